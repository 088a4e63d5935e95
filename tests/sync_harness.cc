#include "sync_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "audit/dsn.h"
#include "audit/opslog_format.h"
#include "audit/sql_connection.h"
#include "ha_sync/text.h"
#include "io/dir_entry.h"
#include "io/md5.h"
#include "support/process.h"

namespace ha_sync::test {

namespace {

[[noreturn]] void Die(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

struct timespec Ts(int64_t ns) {
  return {static_cast<time_t>(ns / kSec), static_cast<long>(ns % kSec)};
}

void Walk(const std::string& root, const std::string& rel, std::map<std::string, std::string>* out,
          bool with_mtime) {
  const std::string dir_path = rel.empty() ? root : root + "/" + rel;
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr && errno == ENOENT && !rel.empty()) return;  // removed by a live run
  if (dir == nullptr) Die("opendir " + dir_path);
  std::vector<std::string> names;
  while (struct dirent* de = ::readdir(dir)) {
    const std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(dir);
  for (const std::string& n : names) {
    if (rel.empty() && n == ".ha-sync-trash") continue;  // ha-sync's own, never synced
    const std::string r = rel.empty() ? n : rel + "/" + n;
    const std::string p = root + "/" + r;
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      // Tests also look at trees a live run is changing: an entry it removed
      // between readdir and lstat (its clock probe, a temp file) is gone.
      if (errno == ENOENT) continue;
      Die("lstat " + p);
    }
    std::ostringstream d;
    if (S_ISDIR(st.st_mode)) {
      d << "dir";
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      const ssize_t len = ::readlink(p.c_str(), buf, sizeof buf);
      d << "link->" << std::string(buf, static_cast<size_t>(len > 0 ? len : 0));
    } else if (S_ISREG(st.st_mode)) {
      std::ifstream in(p, std::ios::binary);
      if (!in) {
        if (errno == ENOENT) continue;  // renamed or removed by a live run since the lstat
        Die("read " + p);
      }
      std::ostringstream data;
      data << in.rdbuf();
      d << "file size=" << st.st_size << " md5=" << io::Md5::OfString(data.str());
    } else {
      d << "special";
    }
    if (!S_ISLNK(st.st_mode)) d << " mode=" << std::oct << (st.st_mode & 07777) << std::dec;
    if (with_mtime && !S_ISDIR(st.st_mode)) {
      d << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    }
    (*out)[r] = d.str();
    if (S_ISDIR(st.st_mode)) Walk(root, r, out, with_mtime);
  }
}

}  // namespace

void MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    const std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) Die("mkdir " + part);
  }
}

void WriteFile(const std::string& path, const std::string& content, int64_t mtime_ns) {
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) MakeDirs(path.substr(0, slash));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + path);
  if (!content.empty() && ::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    Die("write " + path);
  }
  ::close(fd);
  if (mtime_ns != 0) SetMtime(path, mtime_ns);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void SetMtime(const std::string& path, int64_t mtime_ns) {
  const struct timespec times[2] = {Ts(mtime_ns), Ts(mtime_ns)};
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) Die("utimensat " + path);
}

int64_t MtimeNs(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) Die("lstat " + path);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * kSec + st.st_mtim.tv_nsec;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Running StartHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return StartProgram("HA_SYNC_BIN", args, env);
}

Running StartProgram(const char* bin_env, const std::vector<std::string>& args,
                     const std::vector<std::string>& env) {
  const char* bin = std::getenv(bin_env);
  if (bin == nullptr) {
    throw std::runtime_error(std::string(bin_env) + " is not set (run through meson test)");
  }
  std::vector<std::string> argv = {bin};
  argv.insert(argv.end(), args.begin(), args.end());
  // The extra entries are appended: as before, a variable already set in
  // this process keeps its value (getenv returns the first entry).
  std::vector<std::string> child_env = testing::ChildEnvironment({});
  child_env.insert(child_env.end(), env.begin(), env.end());
  testing::ChildIo io;
  io.out = testing::Stream::kPipe;
  io.err = testing::Stream::kPipe;
  const testing::Child child = testing::StartChild(argv, child_env, io);
  return {child.pid, child.out, child.err};
}

RunOutput Wait(Running r) {
  RunOutput out;
  // Read both pipes without deadlocking on a full one.
  struct pollfd fds[2] = {{r.out_fd, POLLIN, 0}, {r.err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&out.out, &out.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Die("poll");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

RunOutput RunHaSyncAs(uid_t uid, const std::vector<std::string>& args) {
  const char* bin = std::getenv("HA_SYNC_BIN");
  if (bin == nullptr) throw std::runtime_error("HA_SYNC_BIN is not set (run through meson test)");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) Die("pipe");
  std::vector<std::string> argv_s = {bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(126);
    ::execv(bin, argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  return Wait({pid, out_pipe[0], err_pipe[0]});
}

RunOutput RunHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return Wait(StartHaSync(args, env));
}

std::vector<std::string> SyncArgs(const std::string& src, const std::string& dest,
                                  const std::string& log_dir, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--src", src, "--dest", dest, "--pair", "test", "--log-dir", log_dir};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

namespace {
std::vector<std::string> OpslogFiles(const std::string& log_dir) {
  std::vector<std::string> files;
  if (DIR* dir = ::opendir(log_dir.c_str())) {
    while (struct dirent* de = ::readdir(dir)) {
      const std::string n = de->d_name;
      if (n.rfind("opslog-", 0) == 0 && n.size() > 6 && n.substr(n.size() - 6) == ".jsonl") {
        files.push_back(log_dir + "/" + n);
      }
    }
    ::closedir(dir);
  }
  std::sort(files.begin(), files.end());  // names end in the start time
  return files;
}
}  // namespace

namespace {
// The default store of a run without a DSN: <log-dir>/ha-sync.db.
std::unique_ptr<audit::SqlConnection> OpenDefaultStore(const std::string& log_dir) {
  if (!Exists(log_dir + "/ha-sync.db")) return nullptr;
  auto dsn = audit::ParseDsn("", log_dir);
  if (!dsn.ok()) throw std::runtime_error(dsn.status().message());
  audit::SqlOpenOptions options;
  options.read_only = true;
  auto conn = audit::OpenSqlConnection(*dsn, options);
  if (!conn.ok()) throw std::runtime_error(conn.status().message());
  return std::move(*conn);
}

std::optional<int64_t> OptInt(const audit::SqlValue& v) {
  int64_t x;
  return audit::GetInt(v, &x) ? std::optional<int64_t>(x) : std::nullopt;
}
std::optional<std::string> OptText(const audit::SqlValue& v) {
  std::string x;
  return audit::GetText(v, &x) ? std::optional<std::string>(x) : std::nullopt;
}
}  // namespace

std::vector<OpRecord> ReadOps(const std::string& log_dir) {
  std::vector<OpRecord> ops;
  // Flushed runs are in the database, in the order they were done ...
  if (auto db = OpenDefaultStore(log_dir)) {
    auto rows = db->QueryAll(
        "SELECT operation, filepath, size_before, size_after, md5_before, md5_after, status, "
        "error_message, dry_run FROM sync_operations ORDER BY id");
    if (!rows.ok()) throw std::runtime_error(rows.status().message());
    for (const auto& row : *rows) {
      OpRecord op;
      std::string text;
      audit::GetText(row[0], &text);
      ParseOpKind(text, &op.operation);
      audit::GetText(row[1], &text);
      DecodePathFromText(text, &op.filepath);
      op.size_before = OptInt(row[2]);
      op.size_after = OptInt(row[3]);
      op.md5_before = OptText(row[4]);
      op.md5_after = OptText(row[5]);
      audit::GetText(row[6], &text);
      ParseOpStatus(text, &op.status);
      op.error_message = OptText(row[7]);
      op.dry_run = OptInt(row[8]).value_or(0) != 0;
      ops.push_back(std::move(op));
    }
  }
  // ... and runs not flushed (yet) are still in their opslogs.
  for (const std::string& f : OpslogFiles(log_dir)) {
    std::istringstream lines(ReadFile(f));
    std::string line;
    while (std::getline(lines, line)) {
      auto parsed = audit::ParseOpslogLine(line);
      if (!parsed.ok()) throw std::runtime_error("bad opslog line in " + f + ": " + line);
      if (auto* op = std::get_if<OpRecord>(&*parsed)) ops.push_back(*op);
    }
  }
  return ops;
}

RunFooter LastFooter(const std::string& log_dir) {
  const auto files = OpslogFiles(log_dir);
  if (files.empty()) {
    auto db = OpenDefaultStore(log_dir);
    if (!db) throw std::runtime_error("no opslog and no database in " + log_dir);
    auto rows = db->QueryAll(
        "SELECT status, files_created, files_updated, files_deleted, files_skipped, files_failed, "
        "total_bytes_transferred, error_message FROM sync_iterations ORDER BY id DESC LIMIT 1");
    if (!rows.ok() || rows->empty()) throw std::runtime_error("no run recorded in " + log_dir);
    const auto& row = rows->front();
    RunFooter footer;
    std::string status;
    audit::GetText(row[0], &status);
    ParseRunStatus(status, &footer.status);
    footer.counts.created = OptInt(row[1]).value_or(0);
    footer.counts.updated = OptInt(row[2]).value_or(0);
    footer.counts.deleted = OptInt(row[3]).value_or(0);
    footer.counts.skipped = OptInt(row[4]).value_or(0);
    footer.counts.failed = OptInt(row[5]).value_or(0);
    footer.counts.bytes_transferred = OptInt(row[6]).value_or(0);
    footer.error_message = OptText(row[7]);
    return footer;
  }
  std::istringstream lines(ReadFile(files.back()));
  std::string line;
  RunFooter footer;
  bool found = false;
  while (std::getline(lines, line)) {
    auto parsed = audit::ParseOpslogLine(line);
    if (parsed.ok() && std::holds_alternative<RunFooter>(*parsed)) {
      footer = std::get<RunFooter>(*parsed);
      found = true;
    }
  }
  if (!found) throw std::runtime_error("no footer in " + files.back());
  return footer;
}

std::map<std::string, std::string> Describe(const std::string& root, bool with_mtime) {
  std::map<std::string, std::string> out;
  Walk(root, "", &out, with_mtime);
  return out;
}

std::vector<std::string> TempFilesUnder(const std::string& root) {
  std::vector<std::string> temps;
  for (const auto& [rel, desc] : Describe(root, false)) {
    const size_t slash = rel.rfind('/');
    const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    if (io::IsSyncTempName(name)) temps.push_back(rel);
  }
  return temps;
}

std::string RunIdFrom(const std::string& out) {
  const size_t at = out.find("--run-id ");
  if (at == std::string::npos) return "";  // the caller's undo then fails, naming no run
  return out.substr(at + 9, 32);
}

bool WaitForTempData(const std::string& dir, const std::string& name) {
  // Temp names are ".ha-sync.<name>.<tag>.tmp" (io/dir_entry.h).
  const std::string prefix = ".ha-sync." + name + ".";
  for (int i = 0; i < 1000; ++i) {
    for (const std::string& rel : TempFilesUnder(dir)) {
      const std::string base = rel.substr(rel.rfind('/') + 1);
      if (!name.empty() && base.rfind(prefix, 0) != 0) continue;
      struct stat st;
      if (::lstat((dir + "/" + rel).c_str(), &st) == 0 && st.st_size > 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace ha_sync::test
