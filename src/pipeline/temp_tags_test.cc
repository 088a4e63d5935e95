#include "pipeline/temp_tags.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

#include "io/dir_entry.h"
#include "io/file_ops.h"
#include "io/uring_test_util.h"

namespace ha_sync::pipeline {

TEST_CASE("registered tags are found again, and a temp name carries its run's tag") {
  io::testing::TempDir dir;
  const std::string path = TempTagsPath(dir.path(), "photos");
  auto none = LoadTempTags(path);
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto a = RegisterTempTag(path);
  auto b = RegisterTempTag(path);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != 0);
  auto tags = LoadTempTags(path);
  REQUIRE(tags.ok());
  CHECK(tags->size() == 2);
  CHECK(std::binary_search(tags->begin(), tags->end(), *a));
  CHECK(std::binary_search(tags->begin(), tags->end(), *b));

  const std::string temp = io::MakeSyncTempName("photo.jpg", io::TaggedRandom(*a));
  REQUIRE(io::IsSyncTempName(temp));
  CHECK(io::SyncTempTag(temp) == *a);

  io::Entry e;
  e.type = io::FileType::kFile;
  e.name = temp;
  CHECK(IsOwnTemp(e, *tags));
  e.name = io::MakeSyncTempName("photo.jpg", io::TaggedRandom(*a ^ 0x5a5a5a5a));
  CHECK_FALSE(IsOwnTemp(e, *tags));  // another pair's (or a user's look-alike)
  e.name = "photo.jpg";
  CHECK_FALSE(IsOwnTemp(e, *tags));
  e.name = temp;
  e.type = io::FileType::kDir;
  CHECK_FALSE(IsOwnTemp(e, *tags));
}

TEST_CASE("a torn last line is no tag, and the file keeps only the newest tags") {
  io::testing::TempDir dir;
  const std::string path = TempTagsPath(dir.path(), "p");
  {
    std::ofstream out(path);
    for (size_t i = 0; i < 2 * kKeptTags + 1; ++i) out << "0000abcd\n";
    out << "1234";  // a crash in the middle of a line
  }
  auto tags = LoadTempTags(path);
  REQUIRE(tags.ok());
  CHECK(tags->size() == 2 * kKeptTags + 1);
  auto fresh = RegisterTempTag(path);
  REQUIRE(fresh.ok());
  tags = LoadTempTags(path);
  REQUIRE(tags.ok());
  CHECK(tags->size() <= kKeptTags);
  CHECK(std::binary_search(tags->begin(), tags->end(), *fresh));
}

}  // namespace ha_sync::pipeline
