// Undo on real directories, from hand-made manifests and trash folders: a
// type change is undone in phases that never destroy the only copy of
// anything, a missing trash copy is reported and never replaced, and no
// manifest entry nor planted symlink makes undo act outside the root.
#include "pipeline/undo.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "io/file_ops.h"
#include "pipeline/trash.h"
#include "support/temp_dir.h"

namespace ha_sync::pipeline {

namespace {

using ha_sync::testing::TempDir;

constexpr int64_t kMtime = 1'700'000'000'123'456'789;
const std::string kRun = "20261126T000000Z-abc";
const std::string kUndo = "20261127T000000Z-def";
const std::string kRunTrash = std::string(kTrashDirName) + "/" + kRun;

// <t>/dest is the root, <t>/logs/undo-p the manifests, <t>/outside must stay empty.
struct Dest {
  TempDir t;
  int root = -1;
  std::string logs;
  Dest() {
    REQUIRE(::mkdirat(t.fd(), "dest", 0755) == 0);
    REQUIRE(::mkdirat(t.fd(), "outside", 0755) == 0);
    root = ::openat(t.fd(), "dest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(root >= 0);
    logs = UndoManifest::Dir(t.path(), "p");
  }
  ~Dest() { ::close(root); }

  void Dir(const std::string& rel) {
    auto fd = io::MakeDirsBeneath(root, rel, 0755);
    REQUIRE(fd.ok());
    ::close(*fd);
  }
  // Writes root/rel (parents made) with mtime kMtime.
  void Write(const std::string& rel, const std::string& data) {
    const size_t slash = rel.rfind('/');
    if (slash != std::string::npos) Dir(rel.substr(0, slash));
    const int fd = ::openat(root, rel.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    const struct timespec times[2] = {{kMtime / 1'000'000'000, kMtime % 1'000'000'000},
                                      {kMtime / 1'000'000'000, kMtime % 1'000'000'000}};
    REQUIRE(::futimens(fd, times) == 0);
    ::close(fd);
  }
  std::string Read(const std::string& rel) const {
    const int fd = ::openat(root, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return "<missing>";
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return std::string(buf, static_cast<size_t>(n > 0 ? n : 0));
  }
  // 'd', 'f', 'l' or 0 when missing.
  char Type(const std::string& rel) const {
    struct stat st;
    if (::fstatat(root, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
    return S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'f';
  }
  void Manifest(const std::vector<UndoRecord>& records) {
    UndoManifest m(logs, kRun);
    for (const auto& r : records) REQUIRE(m.Append(r).ok());
  }
  Result<UndoPlan> Plan() { return PlanUndo(root, logs, "abc"); }
  Status Apply(const UndoPlan& plan, std::vector<UndoStep::Kind>* done) {
    return ApplyUndo(root, plan, kUndo, [](const OpRecord&) {},
                     [&](const UndoStep& s) { done->push_back(s.kind); });
  }
};

UndoRecord Rec(OpKind op, const std::string& path, io::FileType type, int64_t size,
               std::optional<std::string> previous = std::nullopt) {
  return {op, path, type, size, type == io::FileType::kDir ? 0 : kMtime, std::move(previous)};
}

using K = UndoStep::Kind;

std::vector<K> Kinds(const UndoPlan& plan) {
  std::vector<K> out;
  for (const auto& s : plan.steps) out.push_back(s.kind);
  return out;
}

// The run replaced directory x (holding x/a) by the file x.
void DirReplacedByFile(Dest* d) {
  d->Write("x", "new");
  d->Write(kRunTrash + "/x/a", "old a");
  d->Manifest({Rec(OpKind::kDelete, "x/a", io::FileType::kFile, 5, "trash"),
               Rec(OpKind::kDelete, "x", io::FileType::kDir, 0),
               Rec(OpKind::kCreate, "x", io::FileType::kFile, 3)});
}

}  // namespace

TEST_CASE("a directory replaced by a file: set aside, restore, then release") {
  Dest d;
  DirReplacedByFile(&d);
  auto plan = d.Plan();
  REQUIRE(plan.ok());
  CHECK(plan->refusals.empty());
  CHECK(plan->missing_trash.empty());
  CHECK(Kinds(*plan) == std::vector<K>{K::kSetAside, K::kRecreateDir, K::kRestoreFromTrash, K::kReleaseAside});
  std::vector<K> done;
  REQUIRE(d.Apply(*plan, &done).ok());
  CHECK(done == Kinds(*plan));
  CHECK(d.Type("x") == 'd');
  CHECK(d.Read("x/a") == "old a");
  // The file the run left is in the undo's trash; the aside folder is gone.
  const std::string undo_trash = std::string(kTrashDirName) + "/" + kUndo;
  CHECK(d.Read(undo_trash + "/x") == "new");
  CHECK(d.Type(undo_trash + ".aside") == 0);
}

TEST_CASE("a file replaced by a directory: its contents go, the directory is set aside, the file comes back") {
  Dest d;
  d.Write("x/b", "created");
  d.Write(kRunTrash + "/x", "old x");
  d.Manifest({Rec(OpKind::kDelete, "x", io::FileType::kFile, 5, "trash"),
              Rec(OpKind::kCreate, "x", io::FileType::kDir, 0),
              Rec(OpKind::kCreate, "x/b", io::FileType::kFile, 7)});
  auto plan = d.Plan();
  REQUIRE(plan.ok());
  CHECK(plan->refusals.empty());
  CHECK(Kinds(*plan) == std::vector<K>{K::kRemoveCreated, K::kSetAside, K::kRestoreFromTrash, K::kReleaseAside});
  std::vector<K> done;
  REQUIRE(d.Apply(*plan, &done).ok());
  CHECK(d.Read("x") == "old x");
  CHECK(d.Read(std::string(kTrashDirName) + "/" + kUndo + "/x/b") == "created");
  CHECK(d.Type(std::string(kTrashDirName) + "/" + kUndo + ".aside") == 0);
}

TEST_CASE("a restore that fails after the set-aside loses nothing and says where the entry is") {
  Dest d;
  DirReplacedByFile(&d);
  auto plan = d.Plan();
  REQUIRE(plan.ok());
  REQUIRE(::unlinkat(d.root, (kRunTrash + "/x/a").c_str(), 0) == 0);  // gone between plan and apply
  std::vector<K> done;
  const Status s = d.Apply(*plan, &done);
  REQUIRE_FALSE(s.ok());
  CHECK(done == std::vector<K>{K::kSetAside, K::kRecreateDir});
  const std::string aside = std::string(kTrashDirName) + "/" + kUndo + ".aside/0";
  CHECK(s.message().find("'" + aside + "'") != std::string::npos);
  CHECK(d.Read(aside) == "new");  // the file the run left, whole
}

TEST_CASE("a missing trash copy refuses with its path and errno text, and nothing stands in for it") {
  Dest d;
  d.Write("kept", "v2");
  d.Write("created", "c");
  d.Manifest({Rec(OpKind::kCreate, "created", io::FileType::kFile, 1),
              Rec(OpKind::kUpdate, "kept", io::FileType::kFile, 2, "trash"),
              Rec(OpKind::kDelete, "sub/gone", io::FileType::kFile, 4, "trash")});
  SUBCASE("the run's whole trash folder is gone") {}
  SUBCASE("only the copies are gone") { d.Write(kRunTrash + "/other", "x"); }
  auto plan = d.Plan();
  REQUIRE(plan.ok());
  CHECK(plan->refusals.empty());  // dest is as the run left it: nothing there is to blame
  REQUIRE(plan->missing_trash.size() == 2);
  CHECK(plan->missing_trash[0].find("sub/gone: trash copy '" + kRunTrash + "/sub/gone': No such file or directory") == 0);
  CHECK(plan->missing_trash[1].find("kept: trash copy '" + kRunTrash + "/kept': No such file or directory") == 0);
  CHECK(plan->refused());
  std::vector<K> done;
  CHECK_FALSE(d.Apply(*plan, &done).ok());
  CHECK(done.empty());
  CHECK(d.Read("created") == "c");
  CHECK(d.Read("kept") == "v2");
}

TEST_CASE("a trash copy of another type than the manifest names is refused") {
  Dest d;
  d.Dir(kRunTrash);
  REQUIRE(::symlinkat("/etc/passwd", d.root, (kRunTrash + "/gone").c_str()) == 0);
  d.Manifest({Rec(OpKind::kDelete, "gone", io::FileType::kFile, 4, "trash")});
  auto plan = d.Plan();
  REQUIRE(plan.ok());
  REQUIRE(plan->refusals.size() == 1);
  CHECK(plan->refusals[0].find("is a symlink, not the file") != std::string::npos);
}

TEST_CASE("a manifest path out of the root refuses the plan, naming the line") {
  Dest d;
  d.Manifest({Rec(OpKind::kDelete, "fine", io::FileType::kDir, 0),
              Rec(OpKind::kDelete, "../outside/escaped", io::FileType::kDir, 0)});
  auto plan = d.Plan();
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.status().message().find("line 2: path '../outside/escaped' is not a plain relative path") !=
        std::string::npos);
  CHECK(d.Type("fine") == 0);
  struct stat st;
  CHECK(::fstatat(d.t.fd(), "outside/escaped", &st, AT_SYMLINK_NOFOLLOW) != 0);
}

TEST_CASE("a symlink planted in a restored path after planning is refused, nothing lands outside") {
  Dest d;
  d.Write("d/e/keep", "k");
  d.Write(kRunTrash + "/d/e/f", "old f");
  d.Manifest({Rec(OpKind::kDelete, "d/e/f", io::FileType::kFile, 5, "trash")});
  auto plan = d.Plan();
  REQUIRE(plan.ok());
  REQUIRE(plan->steps.size() == 1);
  REQUIRE(::renameat(d.root, "d/e", d.root, "d/e.moved") == 0);
  REQUIRE(::symlinkat((d.t / "outside").c_str(), d.root, "d/e") == 0);
  std::vector<K> done;
  const Status s = d.Apply(*plan, &done);
  REQUIRE_FALSE(s.ok());
  CHECK(s.err() == ELOOP);
  CHECK(s.message().find("'d/e'") != std::string::npos);
  struct stat st;
  CHECK(::fstatat(d.t.fd(), "outside/f", &st, AT_SYMLINK_NOFOLLOW) != 0);
  CHECK(d.Read(kRunTrash + "/d/e/f") == "old f");  // still in the run's trash
}

}  // namespace ha_sync::pipeline

namespace ha_sync::pipeline {

TEST_CASE("a path updated twice by its run (a second pass) is restored once, from the version kept first") {
  Dest d;
  d.Write(kRunTrash + "/f", "before the run");
  d.Write("f", "second copy");
  d.Manifest({Rec(OpKind::kUpdate, "f", io::FileType::kFile, 11, "trash"),
              Rec(OpKind::kUpdate, "f", io::FileType::kFile, 11, "trash")});
  auto plan = d.Plan();
  REQUIRE(plan.ok());
  CHECK(plan->refusals.empty());
  CHECK(Kinds(*plan) == std::vector<K>{K::kRestoreFromTrash});
  std::vector<K> done;
  REQUIRE(d.Apply(*plan, &done).ok());
  CHECK(d.Read("f") == "before the run");
}

TEST_CASE("set-aside and mtime steps re-check their path too") {
  {
    Dest d;
    DirReplacedByFile(&d);
    auto plan = d.Plan();
    REQUIRE(plan.ok());
    REQUIRE_FALSE(plan->refused());
    d.Write("x", "USER EDIT");  // the file the run left, edited after the plan
    std::vector<K> done;
    const Status s = d.Apply(*plan, &done);
    CHECK(s.err() == EBUSY);
    CHECK(d.Read("x") == "USER EDIT");
  }
  {
    Dest d;
    d.Write("same", "same bytes");  // the run only carried an mtime over
    d.Manifest({Rec(OpKind::kUpdate, "same", io::FileType::kFile, 10, "mtime:5")});
    auto plan = d.Plan();
    REQUIRE(plan.ok());
    REQUIRE_FALSE(plan->refused());
    d.Write("same", "new bytes!!");
    std::vector<K> done;
    const Status s = d.Apply(*plan, &done);
    CHECK(s.err() == EBUSY);
    struct stat st;
    REQUIRE(::fstatat(d.root, "same", &st, 0) == 0);
    CHECK(st.st_mtim.tv_sec != 0);  // not set back to 5 ns
  }
}

TEST_CASE("a path changed after the undo was planned is never replaced: the undo stops there") {
  // deleted: the run deleted "gone" (kept in its trash); overwritten: the
  // run replaced "f" (old version in its trash) and left "made".
  for (const char* change : {"a file put where a deleted one returns", "an overwritten file edited",
                             "a created file edited"}) {
    CAPTURE(change);
    Dest d;
    d.Write(kRunTrash + "/gone", "deleted by the run");
    d.Write(kRunTrash + "/f", "before the run");
    d.Write("f", "written by the run");
    d.Write("made", "created by the run");
    d.Manifest({Rec(OpKind::kDelete, "gone", io::FileType::kFile, 18, "trash"),
                Rec(OpKind::kUpdate, "f", io::FileType::kFile, 18, "trash"),
                Rec(OpKind::kCreate, "made", io::FileType::kFile, 18)});
    auto plan = d.Plan();
    REQUIRE(plan.ok());
    REQUIRE_FALSE(plan->refused());
    // The user writes after the plan was checked, before it is applied.
    const std::string path = std::string(change).find("deleted") != std::string::npos ? "gone"
                             : std::string(change).find("overwritten") != std::string::npos ? "f"
                                                                                             : "made";
    d.Write(path, "USER");
    std::vector<K> done;
    const Status s = d.Apply(*plan, &done);
    REQUIRE_FALSE(s.ok());
    CHECK(s.err() == EBUSY);
    CHECK(s.message().find("'" + path + "' changed while the undo ran") != std::string::npos);
    CHECK(d.Read(path) == "USER");
  }
}

}  // namespace ha_sync::pipeline
