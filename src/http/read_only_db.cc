#include "http/read_only_db.h"

#include <algorithm>
#include <cstdio>

namespace ha_sync::http {

ReadOnlyDb::ReadOnlyDb(audit::Dsn dsn, Options options) : dsn_(std::move(dsn)), options_(options) {
  if (dsn_.kind == audit::Dsn::Kind::kMySql) {
    auto cap = [](int* v, int max) { *v = *v <= 0 ? max : std::min(*v, max); };
    cap(&dsn_.connect_timeout_s, 5);
    cap(&dsn_.read_timeout_s, 30);
    cap(&dsn_.write_timeout_s, 30);
  }
}

ReadOnlyDb::~ReadOnlyDb() = default;

bool ReadOnlyDb::up() const {
  std::lock_guard<std::mutex> lock(mu_);
  return up_;
}

void ReadOnlyDb::NoteFailure(const Status& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (up_) std::fprintf(stderr, "ha-sync-ui: database unavailable: %s\n", s.message().c_str());
  up_ = false;
  last_error_ = s;
  retry_at_ = std::chrono::steady_clock::now() + options_.retry_interval;
  // Connections opened before the failure are suspect too.
  idle_.clear();
}

void ReadOnlyDb::NoteSuccess() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!up_) std::fprintf(stderr, "ha-sync-ui: database reachable again (%s)\n", Describe().c_str());
  up_ = true;
}

Result<std::unique_ptr<audit::SqlConnection>> ReadOnlyDb::Take(bool* reused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      *reused = true;
      return conn;
    }
    if (!up_ && std::chrono::steady_clock::now() < retry_at_) return last_error_;
  }
  *reused = false;
  audit::SqlOpenOptions open;
  open.read_only = true;
  open.busy_timeout_ms = 5000;
  auto conn = audit::OpenSqlConnection(dsn_, open);
  if (!conn.ok()) {
    NoteFailure(conn.status());
    return conn.status();
  }
  return std::move(*conn);
}

void ReadOnlyDb::Give(std::unique_ptr<audit::SqlConnection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < options_.max_idle) idle_.push_back(std::move(conn));
}

Status ReadOnlyDb::With(const std::function<Status(audit::SqlConnection*)>& fn) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = false;
    auto conn = Take(&reused);
    if (!conn.ok()) return conn.status();
    Status s = fn(conn->get());
    if (s.ok()) {
      NoteSuccess();
      Give(std::move(*conn));
      return s;
    }
    // The connection is dropped: after an error its state is unknown. A
    // reused one may just have been closed by the server (restart, idle
    // timeout): so may its idle siblings; retry once on a fresh one.
    if (reused && attempt == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.clear();
      continue;
    }
    NoteFailure(s);
    return s;
  }
  return Status::Error("unreachable");
}

}  // namespace ha_sync::http
