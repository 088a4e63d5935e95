#include "k8s/api_client.h"

#include <thread>

namespace ha_sync::k8s {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// Sleeps until `until`, waking early when *stop turns true. Returns false
// when interrupted.
bool SleepUntil(Clock::time_point until, const std::atomic<bool>* stop) {
  while (Clock::now() < until) {
    if (stop != nullptr && stop->load()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(50), until - Clock::now()));
  }
  return stop == nullptr || !stop->load();
}

}  // namespace

std::string ApiResult::Describe() const {
  if (has_response) return DescribeStatus(status);
  return error;
}

ApiClient::ApiClient(std::unique_ptr<HttpsClient> http, std::string token_file, RetryPolicy retry)
    : http_(std::move(http)), tokens_(std::move(token_file)), retry_(retry), rng_(std::random_device{}()) {}

milliseconds ApiClient::Backoff(int retry) {
  // Exponential with full jitter in [base/2, base]: racing clients spread out.
  milliseconds base = retry_.first_backoff;
  for (int i = 0; i < retry && base < retry_.max_backoff; ++i) base *= 2;
  base = std::min(base, retry_.max_backoff);
  std::lock_guard<std::mutex> lock(rng_mu_);
  std::uniform_int_distribution<int64_t> dist(base.count() / 2, base.count());
  return milliseconds(dist(rng_));
}

ApiResult ApiClient::Get(const std::string& path, Deadline deadline, const std::atomic<bool>* stop) {
  return Call("GET", path, "", false, deadline, stop);
}
ApiResult ApiClient::Post(const std::string& path, const std::string& body, Deadline deadline,
                          const std::atomic<bool>* stop) {
  return Call("POST", path, body, true, deadline, stop);
}
ApiResult ApiClient::Put(const std::string& path, const std::string& body, Deadline deadline,
                         const std::atomic<bool>* stop) {
  return Call("PUT", path, body, true, deadline, stop);
}
ApiResult ApiClient::Delete(const std::string& path, const std::string& body, Deadline deadline,
                            const std::atomic<bool>* stop) {
  return Call("DELETE", path, body, false, deadline, stop);
}

ApiResult ApiClient::Call(const char* method, const std::string& path, const std::string& body,
                          bool is_write, Deadline deadline, const std::atomic<bool>* stop) {
  ApiResult result;
  bool retried_401 = false;
  int backoff_step = 0;
  for (;;) {
    auto token = tokens_.Token();
    if (!token.ok()) {
      result = ApiResult();
      result.error = token.status().message();
      result.permanent = true;
      return result;
    }
    HttpRequest request{method, path, body, *token};
    ++result.attempts;
    const int attempts = result.attempts;
    HttpOutcome outcome = http_->RoundTrip(request, deadline);
    result = ApiResult();
    result.attempts = attempts;

    std::optional<int> retry_after;
    bool retry = false;
    if (outcome.failure != TransportFailure::kNone) {
      result.error = std::string(method) + " " + path + ": " + outcome.error;
      if (outcome.failure == TransportFailure::kTlsVerify) {
        result.permanent = true;
        return result;
      }
      if (is_write && outcome.request_sent) {
        result.maybe_applied = true;
        return result;
      }
      retry = true;
    } else {
      result.has_response = true;
      result.status = ClassifyResponse(outcome.response.status, outcome.response.body);
      result.body = std::move(outcome.response.body);
      retry_after = outcome.response.retry_after_seconds;
      switch (result.status.kind) {
        case ApiErrorKind::kUnauthorized:
          tokens_.Invalidate();
          if (!retried_401) {
            retried_401 = true;
            continue;  // the token may just have rotated: re-read it and retry once, now
          }
          retry = true;
          break;
        case ApiErrorKind::kTooManyRequests:
          retry = true;
          break;
        case ApiErrorKind::kServerError:
          if (is_write) {
            result.maybe_applied = true;
            return result;
          }
          retry = true;
          break;
        default:
          return result;
      }
    }
    if (!retry) return result;

    milliseconds wait = Backoff(backoff_step++);
    if (retry_after) wait = std::max(wait, milliseconds(int64_t{*retry_after} * 1000));
    // Out of time (an attempt needs at least half a response timeout to be
    // worth starting): report the last failure.
    if (Clock::now() + wait + http_->timeouts().response / 2 >= deadline) return result;
    if (!SleepUntil(Clock::now() + wait, stop)) {
      result.interrupted = true;
      if (result.error.empty()) result.error = "interrupted by a signal";
      return result;
    }
  }
}

}  // namespace ha_sync::k8s
