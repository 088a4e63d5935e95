// The live status of a running ha-sync (`--status-addr HOST:PORT`,
// docs/api.md): while the engine runs, GET /status answers JSON (stage,
// operations planned and done per kind, bytes, rate, ETA, queue depth) and
// GET /metrics the same as Prometheus text. Nothing is written, nothing is
// read from disk: it only reads the engine's Progress counters.
//
// Rate: bytes copied per second over the last ~10 s (sampled once a second),
// and the average over the whole run. ETA: while scanning and copying, the
// bytes of the queued and running copies over the rate (while scanning a
// lower bound: the walk is still finding work, "eta_is_lower_bound"); while
// deleting, the deletes left over the delete rate of that stage; null
// before the first copy.
//
// It depends on the shared types only (ha_sync/progress.h, the run's
// RunHeader), not on the engine, so ha-sync-ui links no io code.
//
// Thread-safety: Handle() from any thread; the Progress is read with atomic
// loads while the engine updates it.
#pragma once

#include <boost/json/object.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "http/http_server.h"
#include "http/listen_address.h"
#include "ha_sync/op_record.h"
#include "ha_sync/progress.h"

namespace ha_sync::http {

class LiveStatus {
 public:
  LiveStatus(RunHeader run, const Progress* progress);
  ~LiveStatus();

  Response Handle(const Request& req);
  boost::json::object StatusJson();
  std::string MetricsText();
  // Takes a rate sample now (the sampler thread does this every second).
  void Sample();

 private:
  struct Snapshot;
  Snapshot Take();

  const RunHeader run_;
  const Progress* const progress_;
  std::mutex mu_;
  std::deque<std::pair<int64_t, int64_t>> samples_;  // (steady ms, bytes_done)
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread sampler_;
};

// A LiveStatus behind its own small HttpServer; both stop when destroyed.
class LiveStatusServer {
 public:
  static Result<std::unique_ptr<LiveStatusServer>> Start(const ListenAddress& address,
                                                          RunHeader run,
                                                          const Progress* progress);
  uint16_t port() const { return server_->port(); }
  LiveStatus* status() { return status_.get(); }

 private:
  std::unique_ptr<LiveStatus> status_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace ha_sync::http
