// ui_seed: writes known runs into an SQLite audit store for the browser test
// (tests/ui/dashboard.test.mjs), through the real audit writer.
//
//   ui_seed standard DB_PATH                     the standard data set (src/http/dashboard_seed.h)
//   ui_seed add-run DB_PATH PAIR DIRECTION N     one successful real run, N files created, ended now
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "audit/dsn.h"
#include "http/dashboard_seed.h"

int main(int argc, char** argv) {
  using namespace ha_sync;
  const std::vector<std::string> args(argv, argv + argc);
  if (args.size() < 3) {
    std::fprintf(stderr, "usage: ui_seed standard DB_PATH | add-run DB_PATH PAIR DIRECTION N\n");
    return 64;
  }
  auto dsn = audit::ParseDsn("sqlite://" + args[2], "/");
  if (!dsn.ok()) {
    std::fprintf(stderr, "ui_seed: %s\n", dsn.status().message().c_str());
    return 64;
  }
  Status s;
  if (args[1] == "standard" && args.size() == 3) {
    s = http::testing::SeedStandard(*dsn, NowMs());
  } else if (args[1] == "add-run" && args.size() == 6) {
    std::vector<OpRecord> ops;
    const int n = std::atoi(args[5].c_str());
    for (int i = 0; i < n; ++i) {
      ops.push_back(http::testing::Op(OpKind::kCreate, "fresh/file-" + std::to_string(i), 1000 + i));
    }
    s = http::testing::WriteRun(*dsn, http::testing::MakeRun(args[3], args[4], false, NowMs() - 2000, 2, ops));
  } else {
    std::fprintf(stderr, "ui_seed: bad arguments\n");
    return 64;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "ui_seed: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
