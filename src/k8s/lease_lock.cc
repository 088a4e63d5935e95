#include "k8s/lease_lock.h"

#include <random>

#include "k8s/lease_expiry.h"

namespace ha_sync::k8s {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr int kMaxAcquireRounds = 16;
constexpr size_t kRememberedWrites = 16;

WallTime WallNow() { return ToWallTime(std::chrono::system_clock::now()); }

milliseconds Clamp(milliseconds v, milliseconds lo, milliseconds hi) { return std::min(std::max(v, lo), hi); }

std::string Seconds(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

LeaseTimings ComputeLeaseTimings(seconds ttl, seconds skew_margin) {
  const milliseconds t = ttl;
  LeaseTimings timings;
  timings.renew_interval = t / 3;
  timings.retry_interval = Clamp(t / 15, milliseconds(200), milliseconds(5000));
  timings.fence_margin = std::min<milliseconds>(std::max<milliseconds>(skew_margin, t / 10), t / 2);
  timings.request_timeout = Clamp(t / 6, milliseconds(1000), milliseconds(10000));
  return timings;
}

LeaseLock::LeaseLock(std::unique_ptr<ApiClient> api, LeaseLockConfig config, const std::atomic<bool>* stop)
    : api_(std::move(api)), config_(std::move(config)),
      timings_(ComputeLeaseTimings(config_.ttl, config_.skew_margin)), stop_(stop) {}

LeaseLock::~LeaseLock() {
  StopHeartbeat();
  if (held_.load()) (void)Release();
}

std::string LeaseLock::ItemPath() const { return ItemPathOf(config_.lease_name); }

std::string LeaseLock::ItemPathOf(const std::string& name) const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + config_.namespace_name + "/leases/" + name;
}

std::string LeaseLock::LeaseRef() const { return "lease " + config_.namespace_name + "/" + config_.lease_name; }

void LeaseLock::Log(const std::string& message) const {
  if (config_.log) config_.log(message);
}

std::string LeaseLock::Forbidden(const char* verb, const ApiResult& result) const {
  return std::string("the Kubernetes API refused to ") + verb +
         " leases.coordination.k8s.io in namespace \"" + config_.namespace_name + "\" (" +
         result.Describe() +
         "); the service account needs a Role allowing get, create, update and delete on "
         "leases (apiGroup coordination.k8s.io) in that namespace";
}

void LeaseLock::Adopt(const Lease& lease, SteadyTime sent_at) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = lease;
  const SteadyTime fence = sent_at + config_.ttl - timings_.fence_margin;
  // The fence only ever moves forward (an older write adopted late must not shorten it).
  const int64_t ns = duration_cast<std::chrono::nanoseconds>(fence.time_since_epoch()).count();
  if (ns > fence_at_ns_.load()) fence_at_ns_.store(ns);
  if (sent_at > last_ok_) last_ok_ = sent_at;
}

LeaseLock::SteadyTime LeaseLock::NextRenew() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_ok_ + timings_.renew_interval;
}

std::optional<LeaseLock::SteadyTime> LeaseLock::SentAt(const std::optional<WallTime>& renew_time) {
  if (!renew_time) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [wall, sent] : sent_) {
    if (wall == *renew_time) return sent;
  }
  return std::nullopt;
}

// Writes us as the holder: POST when `base` is null, else a PUT of `base`
// with our spec. kReevaluate means someone else changed the lease first.
LeaseLock::WriteResult LeaseLock::WriteHolder(const Lease* base, SteadyTime deadline, Status* error) {
  const SteadyTime sent_at = Clock::now();
  const WallTime now = WallNow();
  LeaseSpec spec;
  spec.holder_identity = config_.holder_identity;
  spec.lease_duration_seconds = config_.ttl.count();
  spec.acquire_time = now;
  spec.renew_time = now;
  spec.lease_transitions = 0;
  if (base != nullptr) {
    const int64_t old = base->spec().lease_transitions.value_or(0);
    // A change of holder counts; re-taking a lease that already names us does not.
    const bool ours = base->spec().holder_identity == config_.holder_identity;
    spec.lease_transitions = ours ? old : old + 1;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.emplace_back(now, sent_at);
    while (sent_.size() > kRememberedWrites) sent_.pop_front();
  }
  const std::string collection =
      "/apis/coordination.k8s.io/v1/namespaces/" + config_.namespace_name + "/leases";
  const char* verb = base == nullptr ? "create" : "update";
  ApiResult r = base == nullptr
                    ? api_->Post(collection, Lease::ForCreate(config_.namespace_name, config_.lease_name, spec).ToJson(),
                                 deadline, stop_)
                    : api_->Put(ItemPath(), base->WithSpec(spec).ToJson(), deadline, stop_);
  if (r.ok()) {
    auto lease = Lease::Parse(r.body);
    if (lease.ok() && lease->spec().holder_identity == config_.holder_identity) {
      Adopt(*lease, sent_at);
      return WriteResult::kWon;
    }
    maybe_written_ = true;  // a 2xx we cannot read: settle it with a re-GET below
  } else if (r.Is(ApiErrorKind::kAlreadyExists) || r.Is(ApiErrorKind::kConflict) ||
             (base != nullptr && r.Is(ApiErrorKind::kNotFound))) {
    return WriteResult::kReevaluate;
  } else if (r.maybe_applied) {
    maybe_written_ = true;
    Log(LeaseRef() + ": " + verb + " outcome unknown (" + r.Describe() + "); re-reading it");
  } else if (r.interrupted) {
    *error = Status::Error("interrupted by a signal while taking the " + LeaseRef());
    return WriteResult::kFailed;
  } else if (r.Is(ApiErrorKind::kForbidden)) {
    *error = Status::Error(Forbidden(verb, r));
    return WriteResult::kFailed;
  } else if (base == nullptr && r.Is(ApiErrorKind::kNotFound)) {
    *error = Status::Error("cannot create the " + LeaseRef() + ": " + r.Describe() +
                           " (does the namespace exist? see --lease-namespace)");
    return WriteResult::kFailed;
  } else {
    *error = Status::Error("cannot " + std::string(verb) + " the " + LeaseRef() + ": " + r.Describe());
    return WriteResult::kFailed;
  }

  // Ambiguous: the write may have landed. Only a re-read can tell.
  ApiResult g = api_->Get(ItemPath(), deadline, stop_);
  if (g.ok()) {
    auto lease = Lease::Parse(g.body);
    if (lease.ok() && lease->spec().holder_identity == config_.holder_identity &&
        lease->spec().renew_time == spec.renew_time) {
      Log(LeaseRef() + ": the " + verb + " had been applied; lease taken");
      Adopt(*lease, sent_at);
      return WriteResult::kWon;
    }
    return WriteResult::kReevaluate;
  }
  if (g.Is(ApiErrorKind::kNotFound)) return WriteResult::kReevaluate;
  *error = Status::Error("cannot tell whether the " + std::string(verb) + " of the " + LeaseRef() +
                         " was applied: " + g.Describe());
  return WriteResult::kFailed;
}

RunLock::AcquireResult LeaseLock::Acquire() {
  AcquireResult result;
  const SteadyTime deadline = Clock::now() + config_.acquire_timeout;
  for (int round = 0; round < kMaxAcquireRounds; ++round) {
    if (stop_ != nullptr && stop_->load()) {
      result.status = Status::Error("interrupted by a signal before the " + LeaseRef() + " was taken");
      CleanUpAfterFailedAcquire();
      return result;
    }
    ApiResult g = api_->Get(ItemPath(), deadline, stop_);
    std::optional<Lease> base;
    if (g.ok()) {
      auto lease = Lease::Parse(g.body);
      if (!lease.ok()) {
        result.status = Status::Error("cannot read the " + LeaseRef() + ": " + lease.status().message());
        return result;
      }
      base = std::move(*lease);
      const LeaseEvaluation e = EvaluateLease(base->spec(), config_.holder_identity, WallNow(), config_.skew_margin);
      if (e.state == LeaseState::kOurs) {
        // Only an earlier write of ours in this Acquire can name us.
        if (auto sent = SentAt(base->spec().renew_time)) {
          Adopt(*base, *sent);
          break;
        }
      } else if (e.state == LeaseState::kHeldLive) {
        result.outcome = Outcome::kHeldByOther;
        result.holder = DescribeHolder(base->spec(), e) + " (" + LeaseRef() + ")";
        CleanUpAfterFailedAcquire();
        return result;
      }
      if (e.state == LeaseState::kExpired) {
        Log(LeaseRef() + ": taking over from expired " + DescribeHolder(base->spec(), e));
      }
    } else if (!g.Is(ApiErrorKind::kNotFound)) {
      if (g.interrupted) {
        result.status = Status::Error("interrupted by a signal before the " + LeaseRef() + " was taken");
      } else if (g.Is(ApiErrorKind::kForbidden)) {
        result.status = Status::Error(Forbidden("get", g));
      } else if (!g.has_response && g.permanent) {
        result.status = Status::Error("cannot use the Kubernetes API for the " + LeaseRef() + ": " + g.error);
      } else if (!g.has_response) {
        result.status = Status::Error("cannot reach the Kubernetes API to read the " + LeaseRef() + " (" +
                                      std::to_string(g.attempts) + " attempt(s) within " +
                                      Seconds(config_.acquire_timeout) + "): " + g.error);
      } else {
        result.status = Status::Error("cannot read the " + LeaseRef() + ": " + g.Describe());
      }
      CleanUpAfterFailedAcquire();
      return result;
    }

    Status error;
    const WriteResult w = WriteHolder(base ? &*base : nullptr, deadline, &error);
    if (w == WriteResult::kWon) break;
    if (w == WriteResult::kFailed) {
      result.status = error;
      CleanUpAfterFailedAcquire();
      return result;
    }
    // kReevaluate: someone else wrote first; read again and decide again.
  }
  if (!current_) {
    result.status = Status::Error("the " + LeaseRef() + " kept changing; gave up after " +
                                  std::to_string(kMaxAcquireRounds) + " attempts");
    CleanUpAfterFailedAcquire();
    return result;
  }
  held_.store(true);
  {
    std::lock_guard<std::mutex> lock(hb_mu_);
    hb_stop_ = false;
  }
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  result.outcome = Outcome::kAcquired;
  return result;
}

// After a failed Acquire whose write had an unknown outcome we may hold the
// lease after all: look once, and if it is ours, delete it conditionally so
// the pair is not blocked for a whole TTL.
void LeaseLock::CleanUpAfterFailedAcquire() {
  if (!maybe_written_ || current_ || config_.shared) return;
  maybe_written_ = false;
  const SteadyTime deadline = Clock::now() + timings_.request_timeout;
  ApiResult g = api_->Get(ItemPath(), deadline, nullptr);
  if (!g.ok()) return;
  auto lease = Lease::Parse(g.body);
  if (!lease.ok() || lease->spec().holder_identity != config_.holder_identity) return;
  Log(LeaseRef() + ": an unfinished acquire had taken the lease; releasing it");
  Status s = DeleteOurs(*lease, deadline + timings_.request_timeout);
  if (!s.ok()) Log(s.message());
}

bool LeaseLock::MayStillWrite() const {
  if (!held_.load() || lost_.load()) return false;
  const int64_t now = duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  return now < fence_at_ns_.load();
}

std::string LeaseLock::LostReason() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (lost_.load()) return lost_reason_;
  if (!current_) return {};
  if (!held_.load()) return LeaseRef() + " was released";
  const int64_t now = duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  if (now < fence_at_ns_.load()) return {};
  std::string why = LeaseRef() + " not renewed in time (TTL " + std::to_string(config_.ttl.count()) +
                    " s minus " + Seconds(timings_.fence_margin) + " margin)";
  if (const int64_t since = renew_sent_ns_.load(); since != 0) {
    why += "; a renew sent " + Seconds(std::chrono::nanoseconds(now - since)) + " ago has no answer yet";
  }
  if (!last_error_.empty()) why += "; last error: " + last_error_;
  return why;
}

void LeaseLock::MarkLost(const std::string& reason, bool observed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_.load()) return;
    lost_reason_ = reason;
    lost_observed_ = observed;
    lost_.store(true);
  }
  Log(reason);
}

void LeaseLock::HeartbeatLoop() {
  std::mt19937_64 rng(std::random_device{}());
  // Renewals are paced from when the last successful write was sent: its
  // renewTime is what contenders see.
  SteadyTime next = NextRenew();
  for (;;) {
    const SteadyTime fence{std::chrono::nanoseconds(fence_at_ns_.load())};
    {
      std::unique_lock<std::mutex> lock(hb_mu_);
      // Wake at the fence at the latest, to say why writing stopped.
      if (hb_cv_.wait_until(lock, std::min(next, fence), [this] { return hb_stop_; })) return;
    }
    if (Clock::now() >= SteadyTime{std::chrono::nanoseconds(fence_at_ns_.load())}) {
      MarkLost(LostReason(), false);
      return;
    }
    if (Clock::now() < next) continue;
    const RenewResult r = RenewOnce();
    if (r == RenewResult::kLost) return;
    if (r == RenewResult::kRenewed) {
      next = NextRenew();
    } else {
      const auto base = timings_.retry_interval.count();
      std::uniform_int_distribution<int64_t> jitter(base / 2, base);
      next = Clock::now() + milliseconds(jitter(rng));
    }
  }
}

LeaseLock::RenewResult LeaseLock::RenewOnce() {
  Lease base = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return *current_;
  }();
  const SteadyTime sent_at = Clock::now();
  const WallTime now = WallNow();
  LeaseSpec spec = base.spec();
  spec.holder_identity = config_.holder_identity;
  spec.lease_duration_seconds = config_.ttl.count();
  spec.renew_time = now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.emplace_back(now, sent_at);
    while (sent_.size() > kRememberedWrites) sent_.pop_front();
  }
  const SteadyTime fence{std::chrono::nanoseconds(fence_at_ns_.load())};
  const SteadyTime deadline = std::min(fence, sent_at + timings_.renew_interval);
  auto remember = [this](const std::string& what) {
    Log(LeaseRef() + ": renew failed: " + what);
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = what;
  };

  renew_sent_ns_.store(duration_cast<std::chrono::nanoseconds>(sent_at.time_since_epoch()).count());
  struct InFlight {
    std::atomic<int64_t>* ns;
    ~InFlight() { ns->store(0); }
  } in_flight{&renew_sent_ns_};
  ApiResult r = api_->Put(ItemPath(), base.WithSpec(spec).ToJson(), deadline, nullptr);
  if (r.ok()) {
    auto lease = Lease::Parse(r.body);
    if (lease.ok() && lease->uid() == base.uid() && lease->spec().holder_identity == config_.holder_identity) {
      Adopt(*lease, sent_at);
      return RenewResult::kRenewed;
    }
  } else if (r.Is(ApiErrorKind::kForbidden)) {
    remember(Forbidden("update", r));
    return RenewResult::kRetry;
  } else if (!r.Is(ApiErrorKind::kConflict) && !r.Is(ApiErrorKind::kNotFound) && !r.maybe_applied) {
    remember(r.Describe());
    return RenewResult::kRetry;
  }

  // 409, 404, an unknown outcome or an unreadable 2xx: the server's copy decides.
  ApiResult g = api_->Get(ItemPath(), std::min(fence, Clock::now() + timings_.renew_interval), nullptr);
  if (g.Is(ApiErrorKind::kNotFound)) {
    MarkLost(LeaseRef() + " was deleted by someone else while we held it; not re-creating it", true);
    return RenewResult::kLost;
  }
  if (!g.ok()) {
    remember((r.has_response ? r.Describe() : r.error) + "; re-read: " + g.Describe());
    return RenewResult::kRetry;
  }
  auto lease = Lease::Parse(g.body);
  if (!lease.ok()) {
    remember(lease.status().message());
    return RenewResult::kRetry;
  }
  if (lease->uid() != base.uid()) {
    MarkLost(LeaseRef() + " was deleted and re-created (now holder '" +
                 lease->spec().holder_identity.value_or("") + "')",
             true);
    return RenewResult::kLost;
  }
  if (lease->spec().holder_identity != config_.holder_identity) {
    const LeaseEvaluation e{LeaseState::kHeldLive, std::nullopt};
    MarkLost(LeaseRef() + " was taken over: " + DescribeHolder(lease->spec(), e), true);
    return RenewResult::kLost;
  }
  // Still ours: one of our writes landed, perhaps with its answer lost.
  if (auto sent = SentAt(lease->spec().renew_time)) {
    Adopt(*lease, *sent);
    return *sent == sent_at ? RenewResult::kRenewed : RenewResult::kRetry;
  }
  if (config_.shared && lease->spec().renew_time) {
    // Another holder of the shared lease renewed it: that renewal keeps the
    // lease alive for all of us. Dated on our clock no later than it can
    // have happened (its renewTime on the other node's clock, less the skew
    // margin), so the fence stays ahead of any contender's take-over.
    const auto age = std::chrono::duration_cast<std::chrono::nanoseconds>(WallNow() - *lease->spec().renew_time);
    const SteadyTime renewed = Clock::now() - std::max(age, std::chrono::nanoseconds(0)) - config_.skew_margin;
    Adopt(*lease, std::min(renewed, sent_at));
    return RenewResult::kRenewed;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = *lease;  // adopt the new resourceVersion; the fence stays where it was
  }
  remember(r.Describe() + "; the lease is still ours, retrying with its new resourceVersion");
  return RenewResult::kRetry;
}

void LeaseLock::StopHeartbeat() {
  {
    std::lock_guard<std::mutex> lock(hb_mu_);
    hb_stop_ = true;
  }
  hb_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

Status LeaseLock::DeleteOurs(Lease base, SteadyTime deadline) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    ApiResult d = api_->Delete(ItemPath(), DeleteOptionsWithPreconditions(base.uid(), base.resource_version()),
                               deadline, nullptr);
    if (d.ok() || d.Is(ApiErrorKind::kNotFound)) return Status::Ok();
    if (d.Is(ApiErrorKind::kForbidden)) return Status::Error(Forbidden("delete", d));
    if (!d.Is(ApiErrorKind::kConflict)) {
      return Status::Error("cannot release the " + LeaseRef() + ": " + d.Describe());
    }
    ApiResult g = api_->Get(ItemPath(), deadline, nullptr);
    if (g.Is(ApiErrorKind::kNotFound)) return Status::Ok();
    if (!g.ok()) return Status::Error("cannot release the " + LeaseRef() + ": re-read: " + g.Describe());
    auto lease = Lease::Parse(g.body);
    if (!lease.ok()) return Status::Error("cannot release the " + LeaseRef() + ": " + lease.status().message());
    if (lease->uid() != base.uid() || lease->spec().holder_identity != config_.holder_identity) {
      Log(LeaseRef() + " is no longer ours (holder '" + lease->spec().holder_identity.value_or("") +
          "'); left as it is");
      return Status::Ok();
    }
    base = std::move(*lease);  // still ours with a newer resourceVersion: try again
  }
  return Status::Error("cannot release the " + LeaseRef() + ": it kept changing");
}

Status LeaseLock::Release() {
  StopHeartbeat();
  const bool fenced = !MayStillWrite();  // lost, or past the fence
  if (!held_.exchange(false)) return Status::Ok();
  if (config_.shared) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (lost_observed_) return Status::Ok();
    }
    return ReleaseShared(Clock::now() + (fenced ? timings_.request_timeout : config_.release_timeout));
  }
  Lease base = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return *current_;
  }();
  milliseconds budget = config_.release_timeout;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_observed_) return Status::Ok();  // someone else's now, or gone: not ours to delete
    // Lost to an API outage: one quick best-effort try, not a long wait for an API that is away.
    if (fenced) budget = timings_.request_timeout;
  }
  return DeleteOurs(std::move(base), Clock::now() + budget);
}

// True when one of the leases names a live holder. A lease that cannot be
// read counts as held, and `doubt` says why.
bool LeaseLock::AnyHeldLive(const std::vector<std::string>& names, SteadyTime deadline, std::string* doubt) {
  for (const std::string& name : names) {
    ApiResult g = api_->Get(ItemPathOf(name), deadline, nullptr);
    if (g.Is(ApiErrorKind::kNotFound)) continue;
    if (!g.ok()) {
      *doubt = "cannot read lease " + name + ": " + g.Describe();
      return true;
    }
    auto lease = Lease::Parse(g.body);
    if (!lease.ok()) {
      *doubt = "cannot read lease " + name + ": " + lease.status().message();
      return true;
    }
    if (EvaluateLease(lease->spec(), config_.holder_identity, WallNow(), config_.skew_margin).state ==
        LeaseState::kHeldLive) {
      return true;
    }
  }
  return false;
}

Status LeaseLock::ReleaseShared(SteadyTime deadline) {
  // The shared lease first, then the others: see the header for why this order.
  ApiResult g = api_->Get(ItemPath(), deadline, nullptr);
  if (g.Is(ApiErrorKind::kNotFound)) return Status::Ok();
  if (!g.ok()) return Status::Error("cannot release the " + LeaseRef() + ": " + g.Describe());
  auto lease = Lease::Parse(g.body);
  if (!lease.ok()) return Status::Error("cannot release the " + LeaseRef() + ": " + lease.status().message());
  if (lease->spec().holder_identity != config_.holder_identity) return Status::Ok();
  std::string doubt;
  if (AnyHeldLive(config_.shared_by, deadline, &doubt)) {
    if (!doubt.empty()) Log(LeaseRef() + " left to expire: " + doubt);
    return Status::Ok();  // still in use: its last holder out deletes it
  }
  ApiResult d = api_->Delete(ItemPath(), DeleteOptionsWithPreconditions(lease->uid(), lease->resource_version()),
                             deadline, nullptr);
  if (d.ok() || d.Is(ApiErrorKind::kNotFound) || d.Is(ApiErrorKind::kConflict)) return Status::Ok();
  if (d.Is(ApiErrorKind::kForbidden)) return Status::Error(Forbidden("delete", d));
  return Status::Error("cannot release the " + LeaseRef() + ": " + d.Describe());
}

}  // namespace ha_sync::k8s
