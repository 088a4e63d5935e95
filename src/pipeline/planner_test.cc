#include "pipeline/planner.h"

#include <doctest/doctest.h>

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

namespace {
constexpr int64_t kSec = 1'000'000'000;

Entry File(std::string name, int64_t size, int64_t mtime_s) {
  Entry e;
  e.name = std::move(name);
  e.type = FileType::kFile;
  e.size = size;
  e.mtime_ns = mtime_s * kSec;
  return e;
}
Entry Of(std::string name, FileType type, int64_t mtime_s = 100, std::string target = {}) {
  Entry e = File(std::move(name), 0, mtime_s);
  e.type = type;
  e.link_target = std::move(target);
  return e;
}
ActionKind One(const std::vector<Entry>& s, const std::vector<Entry>& d, PlanOptions o = {}) {
  auto plan = PlanDirectory(s, d, o);
  REQUIRE(plan.size() == 1);
  return plan[0].kind;
}
}  // namespace

TEST_CASE("every row of the semantics table") {
  // file | missing -> create
  CHECK(One({File("a", 1, 100)}, {}) == ActionKind::kCreateFile);
  // equal mtime (within threshold), equal size -> skip
  CHECK(One({File("a", 5, 100)}, {File("a", 5, 101)}) == ActionKind::kInSync);
  // src newer, size differs -> update
  CHECK(One({File("a", 6, 200)}, {File("a", 5, 100)}) == ActionKind::kUpdateFile);
  // src newer, same size -> hash
  CHECK(One({File("a", 5, 200)}, {File("a", 5, 100)}) == ActionKind::kHashThenUpdate);
  // dest newer -> skip
  CHECK(One({File("a", 6, 100)}, {File("a", 5, 200)}) == ActionKind::kDestNewer);
  // equal mtime, size differs -> conflict
  CHECK(One({File("a", 6, 100)}, {File("a", 5, 100)}) == ActionKind::kConflict);
  // missing in src -> leave, or delete with --delete-missing
  CHECK(One({}, {File("a", 5, 100)}) == ActionKind::kLeaveDestOnly);
  PlanOptions del;
  del.delete_missing = true;
  CHECK(One({}, {File("a", 5, 100)}, del) == ActionKind::kDelete);
  CHECK(One({}, {Of("d", FileType::kDir)}, del) == ActionKind::kDelete);
  // type differs -> conflict, or replace with --delete-missing
  CHECK(One({File("a", 1, 100)}, {Of("a", FileType::kDir)}) == ActionKind::kConflict);
  CHECK(One({Of("a", FileType::kDir)}, {Of("a", FileType::kSymlink, 100, "/etc")}) ==
        ActionKind::kConflict);
  CHECK(One({File("a", 1, 100)}, {Of("a", FileType::kDir)}, del) == ActionKind::kReplace);
  // symlinks: targets compared, newest wins
  CHECK(One({Of("l", FileType::kSymlink, 100, "x")}, {}) == ActionKind::kCreateSymlink);
  CHECK(One({Of("l", FileType::kSymlink, 100, "x")}, {Of("l", FileType::kSymlink, 50, "x")}) ==
        ActionKind::kInSync);
  CHECK(One({Of("l", FileType::kSymlink, 100, "x")}, {Of("l", FileType::kSymlink, 50, "y")}) ==
        ActionKind::kUpdateSymlink);
  CHECK(One({Of("l", FileType::kSymlink, 10, "x")}, {Of("l", FileType::kSymlink, 50, "y")}) ==
        ActionKind::kDestNewer);
  // special files are skipped with a warning
  CHECK(One({Of("p", FileType::kOther)}, {}) == ActionKind::kSkipSpecial);
  // directories
  CHECK(One({Of("d", FileType::kDir)}, {}) == ActionKind::kCreateDir);
  CHECK(One({Of("d", FileType::kDir)}, {Of("d", FileType::kDir)}) == ActionKind::kDescend);
}

TEST_CASE("the threshold is inclusive and configurable") {
  PlanOptions exact;
  exact.threshold_ns = 0;
  Entry s = File("a", 5, 100), d = File("a", 5, 100);
  d.mtime_ns += 1;  // 1 ns newer dest
  CHECK(One({s}, {d}, exact) == ActionKind::kDestNewer);
  PlanOptions two;
  d.mtime_ns = s.mtime_ns - 2 * kSec;
  CHECK(One({s}, {d}, two) == ActionKind::kInSync);
  d.mtime_ns -= 1;
  CHECK(One({s}, {d}, two) == ActionKind::kHashThenUpdate);
}

TEST_CASE("temp files are never copied and leftovers in dest are removed") {
  const std::string tmp = io::MakeSyncTempName("a", 7);
  CHECK(One({File(tmp, 1, 100)}, {}) == ActionKind::kIgnoreSourceTemp);
  PlanOptions del;
  del.delete_missing = true;
  CHECK(One({}, {File(tmp, 1, 100)}, del) == ActionKind::kRemoveStaleTemp);
  CHECK(One({}, {File(tmp, 1, 100)}) == ActionKind::kRemoveStaleTemp);
}

TEST_CASE("merge join pairs names by bytes") {
  std::vector<Entry> src = {File("a", 1, 1), File("c", 1, 1), File("e\xff", 1, 1)};
  std::vector<Entry> dest = {File("b", 1, 1), File("c", 1, 1), File("e\xff", 1, 1)};
  auto plan = PlanDirectory(src, dest, {});
  REQUIRE(plan.size() == 4);
  CHECK(plan[0].kind == ActionKind::kCreateFile);
  CHECK(plan[1].kind == ActionKind::kLeaveDestOnly);
  CHECK(plan[2].kind == ActionKind::kInSync);
  CHECK(plan[3].kind == ActionKind::kInSync);
}

}  // namespace ha_sync::pipeline
