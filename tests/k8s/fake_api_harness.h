// Test support for the Lease code: starts the fake Kubernetes API server
// (tests/k8s/fake_kube_api.py, path in $HA_SYNC_FAKE_KUBE_API) with fresh
// certificates (tests/k8s/make_test_certs.sh, path in $HA_SYNC_TEST_CERTS),
// drives its control port, and runs the built ha-sync ($HA_SYNC_BIN).
//
// Thread-safety: test-only helpers; one FakeKubeApi per test, used from the
// test's thread (the control calls are independent HTTP requests, so a
// helper thread may call them too).
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace ha_sync::test {

using testing::TempDir;  // support/temp_dir.h

// Certificates made once per test process (see make_test_certs.sh).
struct TestCerts {
  std::string dir, ca, other_ca, server_cert, server_key, wronghost_cert, wronghost_key;
};
const TestCerts& Certs();

// A fake API server in its start state: no leases, no faults, empty log,
// only `token` valid (and written to token_file()). Starting Python costs
// about a second on a loaded machine, so instances with the default
// certificate share one server process per test program, reset on
// construction: use one such instance at a time.
class FakeKubeApi {
 public:
  struct Options {
    bool wrong_host_cert = false;  // present a certificate for another host (a private process)
    std::string token = "token-one";
  };
  FakeKubeApi();
  explicit FakeKubeApi(Options options);
  ~FakeKubeApi();
  FakeKubeApi(const FakeKubeApi&) = delete;
  FakeKubeApi& operator=(const FakeKubeApi&) = delete;

  int port() const;
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port()); }
  const std::string& token_file() const;

  // Control side.
  boost::json::value Control(const std::string& method, const std::string& path,
                             const boost::json::value& body = nullptr);
  void AddFault(boost::json::object rule);
  void Op(boost::json::object op);
  boost::json::array Log();
  void ClearLog();
  // The stored lease, if any.
  std::optional<boost::json::object> Lease(const std::string& name, const std::string& ns = "infrastructure");
  // Stores a lease held by `holder`, renewed `renewed_ago` seconds ago.
  void PutLease(const std::string& name, const std::string& holder, int duration_seconds, double renewed_ago,
                int transitions = 0);

  // Waits (up to `limit`) until `pred(log)` holds; returns whether it did.
  bool WaitForLog(const std::function<bool(const boost::json::array&)>& pred,
                  std::chrono::milliseconds limit = std::chrono::seconds(30));

  struct Server;  // one python process

 private:
  std::shared_ptr<Server> server_;
  int api_port_ = 0;
};

// Log helpers.
std::vector<boost::json::object> Requests(const boost::json::array& log, const std::string& method,
                                          const std::string& path_suffix = "");
std::string Str(const boost::json::value& v);  // a JSON string's text, else ""
const boost::json::value* Path(const boost::json::value& v, std::initializer_list<const char*> keys);
// One line per request ("t=1.23 PUT .../leases/x 409"), for failure messages.
std::string Summary(const boost::json::array& log);
// Microseconds-exact MicroTime shape check.
bool IsMicroTime(const boost::json::value& v);

// Running the built binary.
struct RunOutput {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};
struct Running {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
};
Running StartHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
RunOutput WaitHaSync(Running running);
RunOutput RunHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);
// Regular files under `root` (recursive), relative paths.
std::vector<std::string> FilesUnder(const std::string& root);

}  // namespace ha_sync::test
