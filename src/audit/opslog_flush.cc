#include "audit/opslog_flush.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "audit/fault_points.h"
#include "audit/opslog_reader.h"
#include "ha_sync/unique_fd.h"

namespace ha_sync::audit {

Result<FlushResult> FlushOpslog(AuditStore* store, const std::string& path) {
  FlushResult result;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      result.outcome = FlushOutcome::kGone;
      return result;
    }
    return Status::FromErrno(errno, "open opslog", path);
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      result.outcome = FlushOutcome::kBusy;
      return result;
    }
    return Status::FromErrno(errno, "lock opslog", path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat opslog", path);
  if (st.st_nlink == 0) {
    result.outcome = FlushOutcome::kGone;
    return result;
  }
  FaultPoint("flush.locked");

  OpslogReader reader(fd.get(), path);
  OpslogLine line;
  auto more = reader.Next(&line);
  if (!more.ok()) return more.status();
  if (!*more) {
    if (reader.bad_lines() > 0) {
      return Status::Error("opslog '" + path + "' has no readable header; left in place");
    }
    result.outcome = FlushOutcome::kNoHeader;
    return result;
  }
  if (!std::holds_alternative<RunHeader>(line)) {
    return Status::Error("opslog '" + path + "' does not start with a header; left in place");
  }
  result.header = std::get<RunHeader>(line);

  AuditStore::RunWriter writer(store);
  bool already_final = false;
  if (Status s = writer.Start(result.header, &already_final); !s.ok()) return s;
  if (already_final) {
    result.outcome = FlushOutcome::kAlreadyFlushed;
  } else {
    std::optional<RunFooter> footer;
    RunCounts counts;
    // Rows handed to the writer: writer.rows() counts only the batches sent
    // so far, and the last batch goes out with Finish(), after the footer's
    // text below is made.
    int64_t added = 0;
    int64_t last_ms = result.header.started_at_ms;
    // Intents not yet followed by their op line, by (operation, filepath).
    std::multimap<std::pair<OpKind, std::string>, OpRecord> open_intents;
    for (;;) {
      more = reader.Next(&line);
      if (!more.ok()) return more.status();
      if (!*more) break;
      if (const auto* op = std::get_if<OpRecord>(&line)) {
        counts.Add(*op);
        last_ms = std::max(last_ms, op->ended_at_ms.value_or(op->started_at_ms));
        if (auto it = open_intents.find({op->operation, op->filepath}); it != open_intents.end()) {
          open_intents.erase(it);
        }
        if (Status s = writer.Add(*op); !s.ok()) return s;
        ++added;
      } else if (const auto* intent = std::get_if<OpIntent>(&line)) {
        open_intents.emplace(std::make_pair(intent->op.operation, intent->op.filepath), intent->op);
      } else if (const auto* f = std::get_if<RunFooter>(&line)) {
        footer = *f;
      } else if (std::holds_alternative<OpStale>(line)) {
        ++counts.stale;
        ++counts.skipped;
      }
    }
    // The process died between announcing these and recording their
    // outcome: the change may or may not have happened. Recorded as failed
    // so they show red; the next run compares those files again.
    for (auto& [key, op] : open_intents) {
      op.status = OpStatus::kFail;
      op.error_message =
          "the run was killed during this operation; its outcome is unknown (the next run "
          "compares this file again)";
      counts.Add(op);
      if (footer) ++footer->counts.failed;
      if (Status s = writer.Add(op); !s.ok()) return s;
      ++added;
    }
    result.bad_lines = reader.bad_lines();
    if (!footer) {
      result.crashed = true;
      footer.emplace();
      footer->status = RunStatus::kFailed;
      const int64_t mtime_ms =
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
      footer->ended_at_ms = std::max(last_ms, mtime_ms);
      footer->counts = counts;
      footer->error_message =
          "the run did not finish: its opslog has no footer (the process was killed or crashed); " +
          std::to_string(added) + " operation(s) recorded before it stopped";
    }
    if (result.bad_lines > 0) {
      footer->error_message = (footer->error_message ? *footer->error_message + "; " : "") +
                              std::to_string(result.bad_lines) +
                              " unreadable opslog line(s) skipped";
    }
    if (Status s = writer.Finish(*footer); !s.ok()) return s;
    result.rows = writer.rows();
    result.iteration_id = writer.iteration_id();
    result.outcome = FlushOutcome::kFlushed;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "delete flushed opslog", path);
  }
  FaultPoint("flush.unlinked");
  return result;
}

Result<RunHeader> ReadOpslogHeader(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return Status::FromErrno(errno, "open opslog", path);
  // The header is the first line; read a bounded prefix.
  std::string buf(64 * 1024, '\0');
  ssize_t n;
  do {
    n = ::pread(fd.get(), buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Status::FromErrno(errno, "read opslog", path);
  buf.resize(static_cast<size_t>(n));
  const size_t nl = buf.find('\n');
  if (nl == std::string::npos) return Status::Error("opslog '" + path + "' has no header line");
  auto parsed = ParseOpslogLine(buf.substr(0, nl));
  if (!parsed.ok() || !std::holds_alternative<RunHeader>(*parsed)) {
    return Status::Error("opslog '" + path + "' does not start with a header");
  }
  return std::get<RunHeader>(*parsed);
}

Result<std::vector<std::string>> ListPairOpslogs(const std::string& log_dir,
                                                 const std::string& pair) {
  DIR* dir = ::opendir(log_dir.c_str());
  if (dir == nullptr) return Status::FromErrno(errno, "open log directory", log_dir);
  const std::string prefix = "opslog-" + pair + "-";
  std::vector<std::pair<int64_t, std::string>> found;
  while (struct dirent* de = ::readdir(dir)) {
    const std::string name = de->d_name;
    if (name.size() <= prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - 6, 6, ".jsonl") != 0) {
      continue;
    }
    const std::string path = log_dir + "/" + name;
    auto header = ReadOpslogHeader(path);
    if (!header.ok() || header->pair != pair) continue;
    found.emplace_back(header->started_at_ms, path);
  }
  ::closedir(dir);
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(std::move(f.second));
  return paths;
}

}  // namespace ha_sync::audit
