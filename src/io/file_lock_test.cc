#include "io/file_lock.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>

#include "support/temp_dir.h"

namespace ha_sync::io {

TEST_CASE("flock lock: one holder per pair, others see who holds it, released on Release") {
  const ha_sync::testing::TempDir tmp;
  const std::string dir = tmp.path();
  {
    FileLock first(dir, "media", "run-1");
    REQUIRE(first.Acquire().outcome == RunLock::Outcome::kAcquired);
    CHECK(first.MayStillWrite());

    FileLock second(dir, "media", "run-2");
    const auto busy = second.Acquire();
    CHECK(busy.outcome == RunLock::Outcome::kHeldByOther);
    CHECK(busy.holder.find("run=run-1") != std::string::npos);
    CHECK(busy.holder.find("pid=" + std::to_string(::getpid())) != std::string::npos);

    FileLock other_pair(dir, "photos", "run-3");
    CHECK(other_pair.Acquire().outcome == RunLock::Outcome::kAcquired);

    CHECK(first.Release().ok());
    CHECK(first.Release().ok());  // idempotent
    FileLock third(dir, "media", "run-4");
    CHECK(third.Acquire().outcome == RunLock::Outcome::kAcquired);
  }
  FileLock missing(dir + "/no/such/dir", "media", "run-5");
  const auto err = missing.Acquire();
  CHECK(err.outcome == RunLock::Outcome::kError);
  CHECK(err.status.message().find("No such file") != std::string::npos);
}

}  // namespace ha_sync::io
