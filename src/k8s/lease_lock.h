// RunLock on a Kubernetes Lease (docs/cli.md, "Lock: Kubernetes Lease").
//
// Acquire: GET the lease.
//   404                       -> POST (201 won; 409 AlreadyExists: re-read)
//   free or expired (lease_expiry.h) -> PUT of the object as read (uid + rv)
//                                with us as holder, leaseTransitions + 1
//                                (409: someone else won: re-read)
//   held by a live holder     -> kHeldByOther, nothing written
// An ambiguous write (timeout, reset, 5xx after sending) is resolved by a
// re-GET: it is ours exactly when holderIdentity is our unique
// "<pod>/<run-id>" and renewTime is the one we sent. Racing runs therefore
// end with exactly one holder. API unreachable or RBAC denial -> kError.
//
// Holding: a heartbeat thread renews every TTL/3 with a PUT of the object
// as last received (so it carries resourceVersion and uid). A 409 is
// followed by a re-GET: ours -> adopt its resourceVersion; taken over,
// deleted or re-created -> lost, never re-created. Transient failures are
// retried quickly (with jitter, Retry-After honoured) until the fence.
//
// Fencing: MayStillWrite() is false from
//   last_ok + TTL - fence_margin   (steady clock; last_ok = when the last
//                                   successful write was *sent*)
// where fence_margin = min(max(skew margin, TTL/10), TTL/2), or as soon as the
// lease is seen lost. It never turns true again. A contender takes over no
// earlier than renewTime + TTL + skew margin on its clock, so with clock skew
// within the margin the holder has stopped writing before that.
//
// Release: stop the heartbeat, then DELETE with preconditions {uid,
// resourceVersion}; 404 = already released; 409 -> re-GET and retry only if
// it is still ours. A lease seen taken over or deleted is left alone; after
// losing it to an API outage one quick attempt is made (the lease expires on
// its own anyway).
//
// Release of a shared lease (the last holder out deletes it): GET it; if it
// still names the shared holder, GET each lease of `shared_by` (the
// shards' own); when none is held live, DELETE it with the {uid,
// resourceVersion} just read. Any 409 or doubt leaves it to expire. This is
// safe because a holder takes its own lease before it joins the shared one
// (cli/lock_select.cc): a join after our GET changes the resourceVersion
// (409), a join before it comes after its own lease was taken, which the
// GETs that follow then see.
//
// Thread-safety: Acquire/Release from one thread; MayStillWrite/LostReason
// from any thread. The heartbeat runs on its own thread between them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ha_sync/run_lock.h"
#include "k8s/api_client.h"
#include "k8s/lease_object.h"

namespace ha_sync::k8s {

struct LeaseLockConfig {
  std::string namespace_name;   // e.g. "infrastructure"
  std::string lease_name;       // "ha-sync-<pair>"
  std::string holder_identity;  // "<pod-name>/<run-id>"
  std::chrono::seconds ttl{3600};
  std::chrono::seconds skew_margin{60};
  std::chrono::milliseconds acquire_timeout{30000};  // total time Acquire may retry
  std::chrono::milliseconds release_timeout{10000};
  std::function<void(const std::string&)> log;  // warnings; may be empty
  // Shared holding (the pair's lease under a sharded run, docs/cli.md
  // "Shards"): every holder uses the same holder_identity, so each of them
  // takes, joins and renews the one lease as its own, and Release() deletes
  // it only when no lease of `shared_by` is held live (see Release above).
  // A renew that finds the lease renewed by another holder counts that
  // renewal as its own, dated skew_margin earlier.
  bool shared = false;
  // Shared only: the leases whose live holders still use the shared one.
  std::vector<std::string> shared_by;
};

// Intervals derived from the TTL and the skew margin.
struct LeaseTimings {
  std::chrono::milliseconds renew_interval;  // TTL/3
  std::chrono::milliseconds retry_interval;  // after a failed renew: TTL/15 in [200 ms, 5 s]
  std::chrono::milliseconds fence_margin;    // min(max(skew, TTL/10), TTL/2)
  std::chrono::milliseconds request_timeout; // per request: TTL/6 in [1 s, 10 s]
};
LeaseTimings ComputeLeaseTimings(std::chrono::seconds ttl, std::chrono::seconds skew_margin);

class LeaseLock : public RunLock {
 public:
  // `stop` (may be null) interrupts Acquire's retries (SIGTERM during acquire).
  LeaseLock(std::unique_ptr<ApiClient> api, LeaseLockConfig config, const std::atomic<bool>* stop);
  ~LeaseLock() override;

  AcquireResult Acquire() override;
  bool MayStillWrite() const override;
  std::string LostReason() const override;
  Status Release() override;

  const LeaseTimings& timings() const { return timings_; }
  std::string ItemPath() const;
  std::string ItemPathOf(const std::string& lease_name) const;

 private:
  enum class WriteResult { kWon, kReevaluate, kFailed };
  using SteadyTime = std::chrono::steady_clock::time_point;

  WriteResult WriteHolder(const Lease* base, SteadyTime deadline, Status* error);
  void Adopt(const Lease& lease, SteadyTime sent_at);
  SteadyTime NextRenew() const;
  std::optional<SteadyTime> SentAt(const std::optional<WallTime>& renew_time);
  void CleanUpAfterFailedAcquire();
  Status DeleteOurs(Lease base, SteadyTime deadline);
  Status ReleaseShared(SteadyTime deadline);
  bool AnyHeldLive(const std::vector<std::string>& names, SteadyTime deadline, std::string* doubt);

  void HeartbeatLoop();
  enum class RenewResult { kRenewed, kRetry, kLost };
  RenewResult RenewOnce();
  void MarkLost(const std::string& reason, bool observed);
  void StopHeartbeat();
  void Log(const std::string& message) const;
  std::string LeaseRef() const;
  std::string Forbidden(const char* verb, const ApiResult& result) const;

  std::unique_ptr<ApiClient> api_;
  const LeaseLockConfig config_;
  const LeaseTimings timings_;
  const std::atomic<bool>* const stop_;

  mutable std::mutex mu_;
  std::optional<Lease> current_;  // the lease as last received while ours
  std::deque<std::pair<WallTime, SteadyTime>> sent_;  // renewTimes we wrote, when sent
  SteadyTime last_ok_{};          // when the last successful write was sent
  std::string last_error_;        // last renew failure, for LostReason
  std::string lost_reason_;
  bool lost_observed_ = false;    // seen taken over / deleted: do not touch it
  bool maybe_written_ = false;    // an Acquire write had an unknown outcome

  std::atomic<bool> held_{false};
  std::atomic<bool> lost_{false};
  std::atomic<int64_t> fence_at_ns_{0};    // steady clock, since its epoch
  std::atomic<int64_t> renew_sent_ns_{0};  // a renew is waiting for its answer since then

  std::mutex hb_mu_;
  std::condition_variable hb_cv_;
  bool hb_stop_ = false;
  std::thread heartbeat_;
};

}  // namespace ha_sync::k8s
