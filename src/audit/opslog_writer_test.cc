#include "audit/opslog_writer.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "audit/opslog_format.h"
#include "support/temp_dir.h"

namespace ha_sync::audit {

TEST_CASE("header, concurrent op lines and footer: every line whole and parseable") {
  const ha_sync::testing::TempDir tmp;
  const std::string dir = tmp.path();
  RunHeader h{"00112233445566778899aabbccddeeff", "photos", "hp-to-dell", "/a", "/b", NowMs(), false, std::nullopt};
  auto writer = OpslogWriter::Create(dir, h);
  REQUIRE(writer.ok());
  CHECK((*writer)->path() == dir + "/" + OpslogWriter::FileName(h));
  CHECK_FALSE(OpslogWriter::Create(dir, h).ok());  // never overwrites

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        OpRecord op;
        op.filepath = "t" + std::to_string(t) + "/" + std::string(static_cast<size_t>(i), 'x');
        op.started_at_ms = NowMs();
        REQUIRE((*writer)->AppendOp(op).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  RunFooter f;
  f.status = RunStatus::kSuccess;
  f.ended_at_ms = NowMs();
  REQUIRE((*writer)->Finish(f).ok());
  CHECK_FALSE((*writer)->AppendOp(OpRecord{}).ok());

  std::ifstream in((*writer)->path());
  std::string line;
  int headers = 0, ops = 0, footers = 0;
  while (std::getline(in, line)) {
    auto parsed = ParseOpslogLine(line);
    REQUIRE(parsed.ok());
    headers += std::holds_alternative<RunHeader>(*parsed);
    ops += std::holds_alternative<OpRecord>(*parsed);
    footers += std::holds_alternative<RunFooter>(*parsed);
  }
  CHECK(headers == 1);
  CHECK(ops == 1000);
  CHECK(footers == 1);
}

}  // namespace ha_sync::audit
