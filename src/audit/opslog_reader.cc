#include "audit/opslog_reader.h"

#include <unistd.h>

#include <cerrno>

namespace ha_sync::audit {

Result<bool> OpslogReader::NextRawLine(std::string* line) {
  for (;;) {
    const size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      line->assign(buf_, pos_, nl - pos_);
      pos_ = nl + 1;
      return true;
    }
    if (eof_) {
      if (pos_ < buf_.size()) truncated_tail_ = true;
      pos_ = buf_.size();
      return false;
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    const size_t old = buf_.size();
    buf_.resize(old + (1 << 20));
    ssize_t n;
    do {
      n = ::pread(fd_, buf_.data() + old, 1 << 20, offset_);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      buf_.resize(old);
      return Status::FromErrno(errno, "read opslog", path_);
    }
    buf_.resize(old + static_cast<size_t>(n));
    offset_ += n;
    if (n == 0) eof_ = true;
  }
}

Result<bool> OpslogReader::Next(OpslogLine* line) {
  std::string raw;
  for (;;) {
    auto more = NextRawLine(&raw);
    if (!more.ok() || !*more) return more;
    auto parsed = ParseOpslogLine(raw);
    if (parsed.ok()) {
      *line = std::move(*parsed);
      return true;
    }
    ++bad_lines_;
  }
}

}  // namespace ha_sync::audit
