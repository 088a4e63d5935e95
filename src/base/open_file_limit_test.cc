#include "ha_sync/open_file_limit.h"

#include <doctest/doctest.h>

namespace ha_sync {

TEST_CASE("the soft open-file limit is raised to the hard one, capped, and never lowered") {
  struct rlimit before;
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  if (before.rlim_max != RLIM_INFINITY && before.rlim_max < 64) {
    MESSAGE("hard RLIMIT_NOFILE below 64 here, test skipped");
    return;
  }
  struct rlimit low = before;
  low.rlim_cur = 32;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  const rlim_t cap = 48;
  CHECK(RaiseOpenFileLimit(cap) == 48);
  struct rlimit now;
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &now) == 0);
  CHECK(now.rlim_cur == 48);
  CHECK(now.rlim_max == before.rlim_max);
  // Already above the cap: left as it is.
  CHECK(RaiseOpenFileLimit(40) == 48);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
}

}  // namespace ha_sync
