// The take-over rule for a Lease someone else may hold (docs/cli.md,
// "Lock: Kubernetes Lease").
// A CronJob pod cannot use client-go's "watch it unchanged for a full
// duration" rule (it would wait up to --lock-ttl), so we trust renewTime up
// to a clock-skew margin between nodes:
//   free    := holderIdentity absent or ""
//   expired := renewTime absent || leaseDurationSeconds absent or <= 0
//              || now > renewTime + leaseDurationSeconds + margin
// The duration is the one in the lease (the holder's), not ours. A renewTime
// in the future (holder's clock ahead) just means "not expired yet".
//
// Thread-safety: pure function.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "k8s/lease_object.h"

namespace ha_sync::k8s {

enum class LeaseState { kFree, kExpired, kOurs, kHeldLive };

struct LeaseEvaluation {
  LeaseState state = LeaseState::kFree;
  // For kHeldLive: the wall time after which a contender may take over.
  std::optional<WallTime> takeover_after;
};

LeaseEvaluation EvaluateLease(const LeaseSpec& spec, const std::string& me, WallTime now,
                              std::chrono::seconds skew_margin);

// "holder 'x' since <acquireTime>, last renewed <renewTime>, may be taken over after <t>"
std::string DescribeHolder(const LeaseSpec& spec, const LeaseEvaluation& evaluation);

}  // namespace ha_sync::k8s
