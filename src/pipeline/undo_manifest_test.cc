// A manifest is read back from disk, so it may be damaged or written by
// someone else: every line must describe a record a run could have written
// (plain relative paths above all), or the whole manifest is refused,
// naming the line. Only a torn last line is skipped.
#include "pipeline/undo_manifest.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "ha_sync/text.h"
#include "support/temp_dir.h"

namespace ha_sync::pipeline {

namespace {

using ha_sync::testing::TempDir;

constexpr const char* kFile = "20261126T000000Z-run.undo.jsonl";

Status ReadText(const std::string& text, std::vector<UndoRecord>* records) {
  TempDir t;
  const int fd = ::openat(t.fd(), kFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
  return UndoManifest::Read(t.fd(), t.path(), kFile, records);
}

std::string Line(const std::string& op, const std::string& path, const std::string& type,
                 const std::string& previous = "null") {
  return R"({"op":")" + op + R"(","path":")" + path + R"(","type":")" + type +
         R"(","size":3,"mtime_ns":1700000000000000000,"previous":)" + previous + "}\n";
}

const std::string kGood = Line("create", "dir/new", "file");

}  // namespace

TEST_CASE("a manifest round-trips every kind of record") {
  TempDir logs;
  const std::string dir = UndoManifest::Dir(logs.path(), "photos");
  {
    UndoManifest m(dir, "20261126T000000Z-run");
    REQUIRE(m.Append({OpKind::kCreate, "a/new", io::FileType::kFile, 3, 7, std::nullopt}).ok());
    REQUIRE(m.Append({OpKind::kUpdate, "a/b", io::FileType::kSymlink, 4, 8, "trash"}).ok());
    REQUIRE(m.Append({OpKind::kUpdate, "a/c", io::FileType::kFile, 5, 9, "conflict:a/c.conflict"}).ok());
    REQUIRE(m.Append({OpKind::kUpdate, ".", io::FileType::kDir, 0, 10, "mtime:-12"}).ok());
    REQUIRE(m.Append({OpKind::kDelete, "gone", io::FileType::kDir, 0, 11, std::nullopt}).ok());
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::vector<UndoRecord> back;
  const Status s = UndoManifest::Read(fd, dir, UndoManifest::FileName("20261126T000000Z-run"), &back);
  ::close(fd);
  REQUIRE(s.ok());
  REQUIRE(back.size() == 5);
  CHECK(back[1].type == io::FileType::kSymlink);
  CHECK(back[2].previous == "conflict:a/c.conflict");
  CHECK(back[3].path == ".");
  int64_t ns = 0;
  CHECK(ParsePreviousMtime(*back[3].previous, &ns));
  CHECK(ns == -12);
  CHECK(back[4].op == OpKind::kDelete);
}

TEST_CASE("a manifest names its run's destination first; older ones have none; a bad one refuses") {
  TempDir logs;
  const std::string dir = UndoManifest::Dir(logs.path(), "photos");
  {
    UndoManifest m(dir, "20261126T000000Z-run", "/mnt/dest with space");
    REQUIRE(m.Append({OpKind::kCreate, "a/new", io::FileType::kFile, 3, 7, std::nullopt}).ok());
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::vector<UndoRecord> back;
  std::string dest = "stale";
  const Status s = UndoManifest::Read(fd, dir, UndoManifest::FileName("20261126T000000Z-run"), &back, &dest);
  ::close(fd);
  REQUIRE(s.ok());
  CHECK(dest == "/mnt/dest with space");
  REQUIRE(back.size() == 1);
  CHECK(back[0].path == "a/new");

  std::vector<UndoRecord> old_style;
  CHECK(ReadText(kGood, &old_style).ok());
  CHECK(old_style.size() == 1);
  std::vector<UndoRecord> records;
  CHECK(ReadText(std::string(R"({"dest":"relative/path"})") + "\n" + kGood, &records).message().find(
            "line 1: no valid \"dest\"") != std::string::npos);
  // Only the first line may name the destination.
  CHECK_FALSE(ReadText(kGood + R"({"dest":"/mnt/x"})" + "\n", &records).ok());
}

TEST_CASE("a path that is not plain refuses the whole manifest, naming the line") {
  const std::string nul_path = "b64:" + Base64Encode(std::string("a\0b", 3));
  for (const std::string& bad : {std::string("/etc/passwd"), std::string("../outside"), std::string("a/../../x"),
                                 std::string("a//b"), std::string("a/./b"), std::string("./a"),
                                 std::string("a/"), std::string(""), nul_path}) {
    INFO(bad);
    std::vector<UndoRecord> records;
    const Status s = ReadText(kGood + Line("delete", bad, "file", R"("trash")") + kGood, &records);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("line 2:") != std::string::npos);
    CHECK(s.message().find(kFile) != std::string::npos);
    CHECK(s.message().find("not a plain relative path") != std::string::npos);
  }
}

TEST_CASE("the root '.' is only a directory whose mtime goes back") {
  std::vector<UndoRecord> records;
  CHECK(ReadText(Line("update", ".", "dir", R"("mtime:5")"), &records).ok());
  CHECK(records.size() == 1);
  CHECK_FALSE(ReadText(Line("create", ".", "dir"), &records).ok());
  CHECK_FALSE(ReadText(Line("delete", ".", "dir"), &records).ok());
  CHECK_FALSE(ReadText(Line("update", ".", "file", R"("trash")"), &records).ok());
}

TEST_CASE("a conflict copy must be a plain path beside its file") {
  std::vector<UndoRecord> records;
  CHECK(ReadText(Line("update", "d/f", "file", R"("conflict:d/f.c")"), &records).ok());
  const Status elsewhere = ReadText(Line("update", "d/f", "file", R"("conflict:e/f.c")"), &records);
  CHECK_FALSE(elsewhere.ok());
  CHECK(elsewhere.message().find("not beside") != std::string::npos);
  CHECK_FALSE(ReadText(Line("update", "d/f", "file", R"("conflict:d/../f.c")"), &records).ok());
  CHECK_FALSE(ReadText(Line("update", "f", "file", R"("conflict:/f.c")"), &records).ok());
}

TEST_CASE("unknown ops, types and previous values, and wrong field types, are refused") {
  std::vector<UndoRecord> records;
  CHECK_FALSE(ReadText(Line("rename", "f", "file"), &records).ok());
  CHECK_FALSE(ReadText(Line("create", "f", "fifo"), &records).ok());
  CHECK_FALSE(ReadText(Line("update", "f", "file", R"("elsewhere")"), &records).ok());
  // A number that is not whole, or empty, would have been read as 0 or thrown.
  CHECK_FALSE(ReadText(Line("update", "f", "file", R"("mtime:12abc")"), &records).ok());
  CHECK_FALSE(ReadText(Line("update", "f", "file", R"("mtime:")"), &records).ok());
  CHECK_FALSE(ReadText(Line("update", "f", "file", "42"), &records).ok());
  CHECK_FALSE(ReadText(R"({"op":"create","path":"f","type":"file","size":"3"})" "\n", &records).ok());
}

TEST_CASE("only a torn last line is skipped; a damaged line before it refuses") {
  std::vector<UndoRecord> records;
  REQUIRE(ReadText(kGood + kGood + R"({"op":"create","pa)", &records).ok());
  CHECK(records.size() == 2);
  records.clear();
  const Status s = ReadText(kGood + "garbage\n" + kGood, &records);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("line 2: not a JSON object") != std::string::npos);
}

}  // namespace ha_sync::pipeline
