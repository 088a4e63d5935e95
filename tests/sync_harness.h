// What the end-to-end tests of `ha-sync` share: temp trees on the real
// filesystem, files with exact nanosecond mtimes, running the built binary
// (path in $HA_SYNC_BIN) and reading back its opslog.
//
// Thread-safety: test-only helpers, one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ha_sync/op_record.h"
#include "support/temp_dir.h"

namespace ha_sync::test {

constexpr int64_t kSec = 1'000'000'000;

using testing::RemoveTree;
using testing::TempDir;  // support/temp_dir.h

// Writes `content` to `path` (parents created) and sets its mtime.
void WriteFile(const std::string& path, const std::string& content, int64_t mtime_ns = 0);
std::string ReadFile(const std::string& path);
void MakeDirs(const std::string& path);
void SetMtime(const std::string& path, int64_t mtime_ns);  // never follows a symlink
int64_t MtimeNs(const std::string& path);                  // lstat
bool Exists(const std::string& path);                      // lstat

struct RunOutput {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs $HA_SYNC_BIN with `args`; extra environment entries "K=V" are added.
RunOutput RunHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
// Starts it without waiting; Wait() collects the result.
struct Running {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
};
// Runs it as another user (the test must run as root).
RunOutput RunHaSyncAs(uid_t uid, const std::vector<std::string>& args);
Running StartHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
RunOutput Wait(Running running);
// Starts the program whose path is in the environment variable `bin_env`
// (HA_SYNC_BIN, HA_SYNC_UI_BIN) with `args`; `env` as for RunHaSync.
Running StartProgram(const char* bin_env, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {});

// The run id a run printed in its "to revert it: ha-sync undo ..." line.
std::string RunIdFrom(const std::string& out);

// The standard argument list for src -> dest with a private log dir.
std::vector<std::string> SyncArgs(const std::string& src, const std::string& dest,
                                  const std::string& log_dir, std::vector<std::string> extra = {});

// All op records of the runs that used `log_dir` without a DSN: those in
// the default SQLite store (<log-dir>/ha-sync.db), then those still in
// opslogs. (bytes_transferred is not a database column: it reads as 0.)
std::vector<OpRecord> ReadOps(const std::string& log_dir);
// The newest run's footer: from its opslog while one is left, else from the
// database's newest iteration.
RunFooter LastFooter(const std::string& log_dir);

// Describes a tree (type, size, content hash, mtime ns, mode, link target per
// relative path, sorted) so two trees compare with ==. The trash folder at
// the root is left out (ha-sync's own, never synced).
std::map<std::string, std::string> Describe(const std::string& root, bool with_mtime = true);

// Names of files under `root` whose name looks like an ha-sync temp file.
std::vector<std::string> TempFilesUnder(const std::string& root);
// Waits (up to ~10 s) until a temp file under `dir` holds data: the
// source's "before" stamp is taken by then (the io_uring engine creates the
// temp file together with opening the source, before stamping it). With a
// `name`, only the temp file of that file counts: another file's copy may
// hold data before this one has even opened its source.
bool WaitForTempData(const std::string& dir, const std::string& name = "");

}  // namespace ha_sync::test
