#include "pipeline/delete_spool.h"

#include <doctest/doctest.h>

namespace ha_sync::pipeline {

TEST_CASE("the spool returns records in order with their bytes intact") {
  auto spool = DeleteSpool::Create("");
  REQUIRE(spool.ok());
  SpoolRecord a;
  a.rel_path = "dir/with\nnewline\xff";
  a.size = 42;
  SpoolRecord b;
  b.is_dir = true;
  b.rel_path = "dir";
  SpoolRecord m;
  m.kind = SpoolRecord::Kind::kRestoreDirTimes;
  m.mtime_ns = 123456789;
  m.rel_path = "";
  for (const auto* r : {&a, &b, &m}) REQUIRE((*spool)->Append(*r).ok());
  CHECK((*spool)->files() == 1);
  CHECK((*spool)->records() == 3);
  REQUIRE((*spool)->Rewind().ok());
  SpoolRecord got;
  Status status;
  REQUIRE((*spool)->Next(&got, &status));
  CHECK(got.rel_path == a.rel_path);
  CHECK(got.size == 42);
  CHECK_FALSE(got.is_dir);
  REQUIRE((*spool)->Next(&got, &status));
  CHECK(got.is_dir);
  REQUIRE((*spool)->Next(&got, &status));
  CHECK(got.kind == SpoolRecord::Kind::kRestoreDirTimes);
  CHECK(got.mtime_ns == 123456789);
  CHECK(got.rel_path.empty());
  CHECK_FALSE((*spool)->Next(&got, &status));
  CHECK(status.ok());
}

}  // namespace ha_sync::pipeline
