// RemoveOldOpslogs (retention.h) on a real log directory: what an old,
// unstored opslog of this pair, of another pair, without a header, in use,
// or of the calling run itself becomes.
#include "audit/retention.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "audit/opslog_writer.h"
#include "ha_sync/unique_fd.h"
#include "support/temp_dir.h"

namespace ha_sync::audit {

namespace {

constexpr int64_t kDayMs = 86400 * 1000;

// An opslog of `pair` with a header and a footer, its mtime `age_days` ago.
std::string OldOpslog(const std::string& dir, const std::string& pair, const std::string& run_id, int64_t now_ms,
                      int age_days) {
  // A distinct start per run: the file name carries it.
  const int64_t started = now_ms - age_days * kDayMs - static_cast<int64_t>(run_id.back());
  RunHeader h{run_id, pair, "fwd", "/a", "/b", started, false, std::nullopt};
  auto writer = OpslogWriter::Create(dir, h);
  REQUIRE(writer.ok());
  RunFooter f;
  f.status = RunStatus::kSuccess;
  f.ended_at_ms = h.started_at_ms;
  REQUIRE((*writer)->Finish(f).ok());
  const std::string path = (*writer)->path();
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>((now_ms - age_days * kDayMs) / 1000);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
  return path;
}

bool Present(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace

TEST_CASE("retention removes only this pair's old opslogs, never the run's own nor one in use") {
  const ha_sync::testing::TempDir tmp;
  const std::string dir = tmp.path();
  const int64_t now = NowMs();
  const std::string old_mine = OldOpslog(dir, "photos", "00000000000000000000000000000001", now, 20);
  const std::string young_mine = OldOpslog(dir, "photos", "00000000000000000000000000000002", now, 2);
  const std::string old_other = OldOpslog(dir, "photos-raw", "00000000000000000000000000000003", now, 20);
  const std::string own = OldOpslog(dir, "photos", "00000000000000000000000000000004", now, 20);
  const std::string in_use = OldOpslog(dir, "photos", "00000000000000000000000000000005", now, 20);
  const std::string headerless = dir + "/opslog-photos-fwd-2000-01-01T00:00:00.000Z.jsonl";
  {
    UniqueFd fd(::open(headerless.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(fd.get() >= 0);
  }
  struct timespec old_times[2] = {{0, 0}, {0, 0}};
  REQUIRE(::utimensat(AT_FDCWD, headerless.c_str(), old_times, 0) == 0);
  UniqueFd holder(::open(in_use.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(::flock(holder.get(), LOCK_EX) == 0);  // as a live run or a flusher holds it

  auto removed = RemoveOldOpslogs(dir, "photos", own, 10, now);
  REQUIRE(removed.ok());
  CHECK(*removed == 2);
  CHECK_FALSE(Present(old_mine));
  CHECK_FALSE(Present(headerless));
  CHECK(Present(young_mine));
  CHECK(Present(old_other));  // pair "photos-raw" prunes its own
  CHECK(Present(own));
  CHECK(Present(in_use));

  // 0 days: everything of the pair not held and not the run's own.
  holder.reset();
  removed = RemoveOldOpslogs(dir, "photos", own, 0, now);
  REQUIRE(removed.ok());
  CHECK(*removed == 2);
  CHECK_FALSE(Present(young_mine));
  CHECK_FALSE(Present(in_use));
  CHECK(Present(own));
  CHECK(Present(old_other));
}

TEST_CASE("retention of a log directory that cannot be opened is an error naming it") {
  auto removed = RemoveOldOpslogs("/nonexistent-log-dir-for-test", "p", "", 10, NowMs());
  REQUIRE_FALSE(removed.ok());
  CHECK(removed.status().message().find("/nonexistent-log-dir-for-test") != std::string::npos);
}

}  // namespace ha_sync::audit
