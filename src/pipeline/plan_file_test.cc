// The plan file of a dry-run: every field survives a round trip (names are
// bytes: newlines, invalid UTF-8), a torn or foreign file is refused, and an
// uncommitted writer leaves nothing behind.
#include "pipeline/plan_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "io/uring_test_util.h"
#include "pipeline/plan_apply.h"

namespace ha_sync::pipeline {

namespace {

using io::testing::TempDir;

PlanHeader Header() {
  PlanHeader h;
  h.run_id = "00112233445566778899aabbccddeeff";
  h.pair = "photos";
  h.direction = "dell-to-hp";
  h.src = "/mnt/dell/photos";
  h.dest = "/mnt/hp/photos";
  h.delete_missing = true;
  h.created_at_ms = 1780000000123;
  return h;
}

PlanSide File(int64_t size, int64_t mtime_ns) {
  PlanSide s;
  s.type = io::FileType::kFile;
  s.size = size;
  s.mtime_ns = mtime_ns;
  return s;
}

io::Entry EntryOf(const PlanSide& s) {
  io::Entry e;
  e.type = s.type;
  e.size = s.size;
  e.mtime_ns = s.mtime_ns;
  e.link_target = s.link_target;
  return e;
}

}  // namespace

TEST_CASE("plan lines round-trip every field, names as bytes") {
  PlanHeader h;
  REQUIRE(ParsePlanHeader(FormatPlanHeader(Header()), &h));
  CHECK(h.run_id == Header().run_id);
  CHECK(h.pair == "photos");
  CHECK(h.direction == "dell-to-hp");
  CHECK(h.src == "/mnt/dell/photos");
  CHECK(h.delete_missing);
  CHECK(h.created_at_ms == 1780000000123);

  PlanOp op;
  op.op = OpKind::kUpdate;
  op.path = std::string("dir/new\nline \xff.jpg");
  op.src = File(12, 1700000000123456789);
  PlanSide link;
  link.type = io::FileType::kSymlink;
  link.size = 3;
  link.mtime_ns = 5;
  link.link_target = "../t\xfe";
  op.dest = link;
  const std::string line = FormatPlanOp(op);
  CHECK(line.find('\n') == std::string::npos);
  PlanOp back;
  REQUIRE(ParsePlanOp(line, &back));
  CHECK(back.op == OpKind::kUpdate);
  CHECK(back.path == op.path);
  REQUIRE(back.src);
  CHECK(*back.src == *op.src);
  REQUIRE(back.dest);
  CHECK(*back.dest == link);

  PlanOp del;
  del.op = OpKind::kDelete;
  del.path = "gone";
  del.dest = File(1, 2);
  REQUIRE(ParsePlanOp(FormatPlanOp(del), &back));
  CHECK(!back.src);
  CHECK(back.op == OpKind::kDelete);
  CHECK(!ParsePlanOp("{\"op\":\"move\",\"path\":\"a\",\"src\":null,\"dest\":null}", &back));
  CHECK(!ParsePlanHeader(FormatPlanOp(del), &h));
}

TEST_CASE("a committed plan loads; one without Commit() leaves no file") {
  TempDir logs;
  const std::string path = PlanFilePath(logs.path(), "photos", Header().run_id);
  {
    auto w = PlanWriter::Create(path, Header());
    REQUIRE(w.ok());
    PlanOp op;
    op.path = "a";
    op.src = File(3, 4);
    REQUIRE((*w)->Append(op).ok());
  }
  CHECK(::access(path.c_str(), F_OK) != 0);
  CHECK(::access((path + ".tmp").c_str(), F_OK) != 0);

  auto w = PlanWriter::Create(path, Header());
  REQUIRE(w.ok());
  PlanOp create;
  create.path = "a";
  create.src = File(3, 4);
  PlanOp del;
  del.op = OpKind::kDelete;
  del.path = "a";
  del.dest = File(7, 8);
  REQUIRE((*w)->Append(create).ok());
  REQUIRE((*w)->Append(del).ok());
  REQUIRE((*w)->Commit().ok());
  auto plan = Plan::Load(path);
  REQUIRE(plan.ok());
  CHECK((*plan)->size() == 2);
  CHECK((*plan)->header().pair == "photos");
  REQUIRE((*plan)->Find("a", OpKind::kCreate) != nullptr);
  REQUIRE((*plan)->Find("a", OpKind::kDelete) != nullptr);
  CHECK((*plan)->Find("a", OpKind::kDelete)->dest->size == 7);
  CHECK((*plan)->Find("a", OpKind::kUpdate) == nullptr);
  CHECK((*plan)->Find("b", OpKind::kCreate) == nullptr);
}

TEST_CASE("a torn or foreign plan file is refused") {
  TempDir logs;
  const std::string path = logs.path() + "/x.plan.jsonl";
  {
    std::ofstream f(path);
    f << FormatPlanHeader(Header()) << "\n{\"op\":\"create\",\"path\":\"a\"";  // no newline: torn
  }
  CHECK(!Plan::Load(path).ok());
  {
    std::ofstream f(path);
    f << "{\"type\":\"header\"}\n";
  }
  CHECK(!Plan::Load(path).ok());
  CHECK(!Plan::Load(logs.path() + "/missing.plan.jsonl").ok());
}

TEST_CASE("preconditions: any change of size, mtime, type, target or presence is named") {
  PlanOp op;
  op.op = OpKind::kUpdate;
  op.path = "a";
  op.src = File(10, 100);
  op.dest = File(5, 50);
  io::Entry src = EntryOf(*op.src), dest = EntryOf(*op.dest);
  CHECK(ChangedPrecondition(op, &src, &dest).empty());
  io::Entry grown = dest;
  grown.size = 6;
  CHECK(ChangedPrecondition(op, &src, &grown) == "dest size changed (5 -> 6 bytes)");
  io::Entry touched = src;
  touched.mtime_ns = 101;
  CHECK(ChangedPrecondition(op, &touched, &dest) == "src mtime changed");
  CHECK(ChangedPrecondition(op, &src, nullptr) == "no longer exists in dest");
  io::Entry dir = dest;
  dir.type = io::FileType::kDir;
  CHECK(ChangedPrecondition(op, &src, &dir).find("dest is now a directory") == 0);

  PlanOp create;
  create.src = File(1, 1);
  io::Entry s1 = EntryOf(*create.src);
  CHECK(ChangedPrecondition(create, &s1, nullptr).empty());
  CHECK(ChangedPrecondition(create, &s1, &dest) == "now exists in dest");

  PlanOp mkdir;
  PlanSide d;
  d.type = io::FileType::kDir;
  d.mtime_ns = 1;
  mkdir.src = d;
  io::Entry dnow = EntryOf(d);
  dnow.mtime_ns = 999;  // a directory's time follows its contents
  CHECK(ChangedPrecondition(mkdir, &dnow, nullptr).empty());

  CHECK(ChangeOf(ActionKind::kHashThenUpdate) == OpKind::kUpdate);
  CHECK(ChangeOf(ActionKind::kReplace) == OpKind::kDelete);
  CHECK(!ChangeOf(ActionKind::kInSync));
  CHECK(!ChangeOf(ActionKind::kRemoveStaleTemp));
}

TEST_CASE("old plan files are removed, newer ones and other files kept") {
  TempDir logs;
  const std::string dir = PlanDir(logs.path(), "photos");
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  for (const char* name : {"/old.plan.jsonl", "/new.plan.jsonl", "/other.txt"}) {
    std::ofstream(dir + name) << "x\n";
  }
  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, (dir + "/old.plan.jsonl").c_str(), times, 0) == 0);
  REQUIRE(::utimensat(AT_FDCWD, (dir + "/other.txt").c_str(), times, 0) == 0);
  auto removed = RemoveOldPlans(logs.path(), "photos", 10, NowMs());
  REQUIRE(removed.ok());
  CHECK(*removed == 1);
  CHECK(::access((dir + "/new.plan.jsonl").c_str(), F_OK) == 0);
  CHECK(::access((dir + "/other.txt").c_str(), F_OK) == 0);
  CHECK(RemoveOldPlans(logs.path(), "nopair", 10, NowMs()).ok());
}

}  // namespace ha_sync::pipeline
