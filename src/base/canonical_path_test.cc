#include "ha_sync/canonical_path.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include "support/temp_dir.h"

namespace ha_sync {

TEST_CASE("a path is normalised lexically, and resolved when it exists") {
  CHECK(NormalizePath("/srv//a/./b/../c/") == "/srv/a/c");
  CHECK(NormalizePath("/..") == "/");
  CHECK(NormalizePath("/") == "/");
  const testing::TempDir tmp;
  const std::string real = CanonicalPath(tmp.path());
  REQUIRE(::symlink(real.c_str(), (real + "/link").c_str()) == 0);
  CHECK(CanonicalPath(real + "/link/") == real);
  CHECK(CanonicalPath(real + "/missing/../x//") == real + "/x");
}

}  // namespace ha_sync
