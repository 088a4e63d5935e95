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
ActionKind One(const std::vector<Entry>& s, const std::vector<Entry>& d, PlanOptions o = {},
               const std::vector<StateEntry>* state = nullptr) {
  auto plan = PlanDirectory(s, d, state, o);
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
  auto plan = PlanDirectory(src, dest, nullptr, {});
  REQUIRE(plan.size() == 4);
  CHECK(plan[0].kind == ActionKind::kCreateFile);
  CHECK(plan[1].kind == ActionKind::kLeaveDestOnly);
  CHECK(plan[2].kind == ActionKind::kInSync);
  CHECK(plan[3].kind == ActionKind::kInSync);
}

namespace {
StateEntry Rec(const Entry& e) {
  StateEntry s;
  s.name = e.name;
  s.type = e.type;
  s.size = e.size;
  s.mtime_ns = e.mtime_ns;
  return s;
}
}  // namespace

TEST_CASE("with state: the side that changed wins, whatever the mtimes say") {
  const Entry synced = File("a", 5, 100);
  const std::vector<StateEntry> state = {Rec(synced)};
  // dest changed (even to an older mtime): skip, the reverse run carries it
  CHECK(One({synced}, {File("a", 7, 50)}, {}, &state) == ActionKind::kDestNewer);
  // src changed to an older version (restored from backup): it still wins
  CHECK(One({File("a", 9, 50)}, {synced}, {}, &state) == ActionKind::kUpdateFile);
  // both changed: newer wins, the loser is kept as a conflict copy
  CHECK(One({File("a", 9, 300)}, {File("a", 7, 200)}, {}, &state) == ActionKind::kConflictCopy);
  CHECK(One({File("a", 9, 200)}, {File("a", 7, 300)}, {}, &state) == ActionKind::kDestNewer);
  // both changed to the same thing: in sync
  CHECK(One({File("a", 9, 300)}, {File("a", 9, 300)}, {}, &state) == ActionKind::kInSync);
  // never synced (unknown to the state): the seed's newest-wins rules
  const std::vector<StateEntry> other = {Rec(File("zzz", 1, 1))};
  CHECK(One({File("a", 9, 300)}, {File("a", 7, 100)}, {}, &other) == ActionKind::kUpdateFile);
  CHECK(One({File("a", 9, 100)}, {File("a", 7, 300)}, {}, &other) == ActionKind::kDestNewer);
}

TEST_CASE("with state, a type change is the changed side's: never replaced by the unchanged one") {
  PlanOptions del;
  del.delete_missing = true;
  const std::vector<StateEntry> was_dir = {Rec(Of("p", FileType::kDir))};
  // dest made the directory a file: the forward run keeps it (the reverse carries it)
  CHECK(One({Of("p", FileType::kDir)}, {File("p", 3, 200)}, del, &was_dir) == ActionKind::kDestNewer);
  CHECK(One({Of("p", FileType::kDir)}, {Of("p", FileType::kSymlink, 200, "t")}, del, &was_dir) ==
        ActionKind::kDestNewer);
  // src made it a file: replaced on dest
  CHECK(One({File("p", 3, 200)}, {Of("p", FileType::kDir)}, del, &was_dir) == ActionKind::kReplace);
  // changed on both sides (a file edited here, made a directory there): left for a person
  const Entry synced = File("a", 5, 100);
  const std::vector<StateEntry> was_file = {Rec(synced)};
  auto plan = PlanDirectory({File("a", 6, 200)}, {Of("a", FileType::kDir)}, &was_file, del);
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].kind == ActionKind::kConflict);
  CHECK(plan[0].reason.find("changed on both sides") != std::string::npos);
  // a dest directory where an unchanged src file was: kept
  CHECK(One({synced}, {Of("a", FileType::kDir)}, del, &was_file) == ActionKind::kDestNewer);
}

TEST_CASE("with state, --delete-missing only propagates deletions") {
  PlanOptions del;
  del.delete_missing = true;
  const Entry synced = File("a", 5, 100);
  const std::vector<StateEntry> state = {Rec(synced)};
  const std::vector<StateEntry> empty_state;
  // deleted on src, unchanged on dest: delete
  CHECK(One({}, {synced}, del, &state) == ActionKind::kDelete);
  // deleted on src, changed on dest: keep (a change beats a delete)
  CHECK(One({}, {File("a", 6, 200)}, del, &state) == ActionKind::kDestChangedKeep);
  // unknown to the state: new on dest, the reverse run copies it
  CHECK(One({}, {synced}, del, &empty_state) == ActionKind::kNewOnDest);
  // deleted on dest, unchanged on src: not re-created
  CHECK(One({synced}, {}, del, &state) == ActionKind::kDeletedOnDest);
  // ... but without --delete-missing it is re-created (the seed's behaviour)
  CHECK(One({synced}, {}, {}, &state) == ActionKind::kCreateFile);
  // without any state, the seed's behaviour: delete
  CHECK(One({}, {synced}, del, nullptr) == ActionKind::kDelete);
}

TEST_CASE("what the next state records") {
  const Entry synced = File("a", 5, 100);
  const std::vector<StateEntry> state = {Rec(synced)};
  auto next = [&](std::vector<Entry> s, std::vector<Entry> d, PlanOptions o = {}) {
    auto plan = PlanDirectory(s, d, &state, o);
    REQUIRE(plan.size() == 1);
    return plan[0].next;
  };
  CHECK(next({synced}, {synced}) == NextState::kRecordSource);
  CHECK(next({File("a", 9, 300)}, {synced}) == NextState::kRecordSource);
  CHECK(next({synced}, {File("a", 7, 50)}) == NextState::kKeepOld);
  CHECK(next({}, {synced}) == NextState::kKeepOld);  // no --delete-missing: remember it
  PlanOptions del;
  del.delete_missing = true;
  CHECK(next({}, {synced}, del) == NextState::kDrop);
}

TEST_CASE("settle window and future dates") {
  PlanOptions o;
  o.now_ns = 1000 * kSec;
  o.min_age_ns = 60 * kSec;
  CHECK(One({File("a", 5, 990)}, {}, o) == ActionKind::kSettling);
  CHECK(One({File("a", 5, 900)}, {}, o) == ActionKind::kCreateFile);
  CHECK(One({File("a", 5, 900)}, {File("a", 6, 995)}, o) == ActionKind::kSettling);
  PlanOptions f;
  f.now_ns = 1000 * kSec;
  CHECK(One({File("a", 5, 5000)}, {File("a", 6, 900)}, f) == ActionKind::kFutureDated);
  CHECK(One({File("a", 5, 5000)}, {}, f) == ActionKind::kCreateFile);  // nothing to win over
  // A future date is not "still settling" (it would wait forever): it is
  // told as future-dated, or created when there is nothing to win over.
  PlanOptions both = o;
  CHECK(One({File("a", 5, 5000)}, {File("a", 6, 900)}, both) == ActionKind::kFutureDated);
  CHECK(One({File("a", 5, 5000)}, {}, both) == ActionKind::kCreateFile);
}

TEST_CASE("reserved names") {
  CHECK(IsReservedName(".ha-sync-trash", true));
  CHECK_FALSE(IsReservedName(".ha-sync-trash", false));
  CHECK(IsReservedName(".ha-sync-probe-0123", true));
  CHECK(IsReservedName(".ha-sync-bench-host-999", true));  // a --bench scratch folder
  CHECK_FALSE(IsReservedName(".ha-sync-bench-host-999", false));
  CHECK(IsReservedName(io::MakeSyncTempName("x", 1), false));
  CHECK_FALSE(IsReservedName("photo.jpg", true));
}

}  // namespace ha_sync::pipeline

namespace ha_sync::pipeline {

TEST_CASE("with a record, any difference from it is a change, inside the mtime window too") {
  const Entry synced = File("g", 2, 100);
  const std::vector<StateEntry> state = {{"g", FileType::kFile, 2, 100 * kSec}};
  Entry edited = synced;
  edited.mtime_ns += 300'000'000;  // 0.3 s later, same size: within the 2 s window
  CHECK(One({edited}, {synced}, {}, &state) == ActionKind::kHashThenUpdate);
  CHECK(One({synced}, {edited}, {}, &state) == ActionKind::kDestNewer);
  CHECK(One({synced}, {synced}, {}, &state) == ActionKind::kInSync);
  // Without a record the window still applies between the two sides.
  CHECK(One({edited}, {synced}) == ActionKind::kInSync);
  // A side that keeps whole seconds holds the record cut to its precision: in sync.
  const std::vector<StateEntry> fine = {{"g", FileType::kFile, 2, 100 * kSec + 123'456'789}};
  Entry fine_src = synced;
  fine_src.mtime_ns = 100 * kSec + 123'456'789;
  CHECK(One({fine_src}, {synced}, {}, &fine) == ActionKind::kInSync);
}

TEST_CASE("a retargeted symlink is a change whatever its time") {
  const std::vector<StateEntry> state = {{"l", FileType::kSymlink, 0, 100 * kSec}};
  Entry old_link = Of("l", FileType::kSymlink, 100, "t1");
  Entry new_link = Of("l", FileType::kSymlink, 100, "t2");
  new_link.mtime_ns += 200'000'000;
  CHECK(One({new_link}, {old_link}, {}, &state) == ActionKind::kUpdateSymlink);
  // Retargeted keeping the recorded time: the seed's rule (equal times) decides.
  new_link.mtime_ns = 100 * kSec;
  CHECK(One({new_link}, {old_link}, {}, &state) == ActionKind::kConflict);
}

TEST_CASE("MtimeMatchesRecord: exact, or the record cut to the observed precision") {
  CHECK(MtimeMatchesRecord(5'123'456'789, 5'123'456'789));
  CHECK(MtimeMatchesRecord(5'000'000'000, 5'123'456'789));  // whole seconds
  CHECK(MtimeMatchesRecord(5'123'456'000, 5'123'456'789));  // microseconds
  CHECK_FALSE(MtimeMatchesRecord(5'123'456'781, 5'123'456'789));
  CHECK_FALSE(MtimeMatchesRecord(5'123'457'000, 5'123'456'789));  // later: never a cut
  CHECK_FALSE(MtimeMatchesRecord(5'300'000'000, 5'000'000'000));
  CHECK_FALSE(MtimeMatchesRecord(6'000'000'000, 5'123'456'789));
  CHECK(MtimeMatchesRecord(-2'000'000'000, -1'500'000'000));  // before 1970: floor
}

}  // namespace ha_sync::pipeline
