// `ha-sync --status-addr`: the built binary serves /status and /metrics while
// it copies (copies slowed down with HA_SYNC_TEST_BLOCK_DELAY_MS), and stops
// serving when the run is over.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"
#include "support/test_client.h"

namespace {

namespace json = boost::json;

// Spawns argv with extra environment; stderr comes back through *err_fd.
pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra,
            int* err_fd) {
  ha_sync::testing::ChildIo io;
  io.out = ha_sync::testing::Stream::kNull;
  io.err = ha_sync::testing::Stream::kPipe;
  const ha_sync::testing::Child child = ha_sync::testing::StartChild(argv, ha_sync::testing::ChildEnvironment(env_extra), io);
  *err_fd = child.err;
  return child.pid;
}

TEST_CASE("ha-sync --status-addr serves the live status while it runs") {
  const char* bin = std::getenv("HA_SYNC_BIN");
  REQUIRE_MESSAGE(bin != nullptr, "HA_SYNC_BIN is not set");
  ha_sync::testing::TempDir t;
  const std::string src = t.path() + "/src", dest = t.path() + "/dest", log = t.path() + "/log";
  REQUIRE(::mkdir(src.c_str(), 0755) == 0);
  REQUIRE(::mkdir(dest.c_str(), 0755) == 0);
  constexpr int kFiles = 30;
  for (int i = 0; i < kFiles; ++i) {
    std::ofstream(src + "/f" + std::to_string(i) + ".bin", std::ios::binary)
        << std::string(128 * 1024, static_cast<char>('a' + i % 26));
  }
  int err_fd = -1;
  const pid_t pid = Spawn({bin, "--src", src, "--dest", dest, "--pair", "live", "--direction", "a-to-b",
                           "--log-dir", log, "--workers", "1", "--block-size", "65536",
                           "--status-addr", "127.0.0.1:0", "--no-progress"},
                          {"HA_SYNC_TEST_BLOCK_DELAY_MS=40"}, &err_fd);

  // The address is announced on stderr.
  std::string err;
  uint16_t port = 0;
  const std::regex announce("live status on http://127\\.0\\.0\\.1:([0-9]+)/status");
  for (int i = 0; i < 600 && port == 0; ++i) {
    pollfd pfd{err_fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) > 0) {
      char buf[4096];
      const ssize_t n = ::read(err_fd, buf, sizeof buf);
      if (n <= 0) break;
      err.append(buf, static_cast<size_t>(n));
      std::smatch m;
      if (std::regex_search(err, m, announce)) port = static_cast<uint16_t>(std::stoi(m[1]));
    }
  }
  REQUIRE_MESSAGE(port != 0, "no live status announced; stderr: " << err);

  // Poll while it runs.
  std::set<std::string> stages;
  int in_progress = 0;
  int64_t last_done = -1;
  bool monotonic = true;
  bool saw_metrics = false;
  int status = -1;
  while (true) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    auto r = ha_sync::http::testing::Fetch(port, "/status");
    if (r.status == 200) {
      json::value v = json::parse(r.body);
      stages.insert(std::string(v.at("stage").as_string()));
      CHECK(v.at("pair").as_string() == "live");
      CHECK(v.at("direction").as_string() == "a-to-b");
      const int64_t done = v.at("operations").at("create").at("done").as_int64();
      const int64_t planned = v.at("operations").at("create").at("planned").as_int64();
      CHECK(planned >= done);
      CHECK(planned <= kFiles);
      if (done < last_done) monotonic = false;
      last_done = done;
      if (done > 0 && done < kFiles) ++in_progress;
      if (!saw_metrics) {
        auto m = ha_sync::http::testing::Fetch(port, "/metrics");
        saw_metrics = m.status == 200 &&
                      m.body.find("ha_sync_run_bytes_copied_total{pair=\"live\",direction=\"a-to-b\"}") !=
                          std::string::npos;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::close(err_fd);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(in_progress > 0);  // seen with some but not all files copied
  CHECK(monotonic);
  CHECK(saw_metrics);
  CHECK((stages.count("scanning") + stages.count("copying")) > 0);
  // The page goes away with the run.
  auto after = ha_sync::http::testing::Fetch(port, "/status");
  CHECK(after.status == 0);
}

}  // namespace
