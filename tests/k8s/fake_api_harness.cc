#include "fake_api_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/process.h"

namespace ha_sync::test {

namespace json = boost::json;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

std::string EnvOrDie(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') throw std::runtime_error(std::string("test environment: $") + name + " is not set");
  return v;
}

// A child with stdin/stdout/stderr pipes as requested (the others
// inherited). It must not think it runs in a pod, whatever machine runs
// the tests.
pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, int* in_fd,
            int* out_fd, int* err_fd) {
  std::vector<std::string> env;
  for (const std::string& entry : testing::ChildEnvironment({})) {
    if (entry.rfind("KUBERNETES_", 0) != 0) env.push_back(entry);
  }
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  testing::ChildIo io;
  if (in_fd) io.in = testing::Stream::kPipe;
  if (out_fd) io.out = testing::Stream::kPipe;
  if (err_fd) io.err = testing::Stream::kPipe;
  const testing::Child child = testing::StartChild(argv, env, io);
  if (in_fd) *in_fd = child.in;
  if (out_fd) *out_fd = child.out;
  if (err_fd) *err_fd = child.err;
  return child.pid;
}

int WaitExit(pid_t pid) { return testing::WaitChild(pid); }

}  // namespace

const TestCerts& Certs() {
  static TempDir* dir = new TempDir();  // lives until exit; removed by the OS tmp cleaner otherwise
  static TestCerts certs = [] {
    const std::string script = EnvOrDie("HA_SYNC_TEST_CERTS");
    int err_fd = -1;
    pid_t pid = Spawn({"sh", script, dir->path()}, {}, nullptr, nullptr, &err_fd);
    char buf[4096];
    std::string err;
    for (ssize_t n; (n = ::read(err_fd, buf, sizeof buf)) > 0;) err.append(buf, static_cast<size_t>(n));
    ::close(err_fd);
    if (WaitExit(pid) != 0) throw std::runtime_error("make_test_certs.sh failed: " + err);
    TestCerts c;
    c.dir = dir->path();
    c.ca = c.dir + "/ca.crt";
    c.other_ca = c.dir + "/other-ca.crt";
    c.server_cert = c.dir + "/server.crt";
    c.server_key = c.dir + "/server.key";
    c.wronghost_cert = c.dir + "/wronghost.crt";
    c.wronghost_key = c.dir + "/wronghost.key";
    return c;
  }();
  return certs;
}

struct FakeKubeApi::Server {
  pid_t pid = -1;
  int stdin_fd = -1;
  int api_port = 0;
  int control_port = 0;
  TempDir dir;
  std::string token_file = dir / "token";

  Server(bool wrong_host_cert, const std::string& token) {
    const TestCerts& certs = Certs();
    int out_fd = -1;
    pid = Spawn({"python3", EnvOrDie("HA_SYNC_FAKE_KUBE_API"), "--cert",
                 wrong_host_cert ? certs.wronghost_cert : certs.server_cert, "--key",
                 wrong_host_cert ? certs.wronghost_key : certs.server_key, "--token", token, "--token-file",
                 token_file},
                {}, &stdin_fd, &out_fd, nullptr);
    // Wait for "READY <api> <control>".
    std::string line;
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos) {
      pollfd p{out_fd, POLLIN, 0};
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(limit - std::chrono::steady_clock::now()).count());
      if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
      char buf[256];
      const ssize_t n = ::read(out_fd, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    ::close(out_fd);
    std::istringstream in(line);
    std::string word;
    in >> word >> api_port >> control_port;
    if (word != "READY" || api_port <= 0 || control_port <= 0) {
      throw std::runtime_error("the fake API server did not start: '" + line + "'");
    }
  }

  ~Server() {
    if (stdin_fd >= 0) ::close(stdin_fd);  // EOF on stdin ends the server
    for (int i = 0; i < 200; ++i) {
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGKILL);
    WaitExit(pid);
  }
};

FakeKubeApi::FakeKubeApi() : FakeKubeApi(Options{}) {}

FakeKubeApi::FakeKubeApi(Options options) {
  if (options.wrong_host_cert) {
    server_ = std::make_shared<Server>(true, options.token);
    api_port_ = server_->api_port;
    return;
  }
  static std::shared_ptr<Server> shared;  // ends with the test program (stdin EOF)
  if (!shared) shared = std::make_shared<Server>(false, options.token);
  server_ = shared;
  // A fresh API port each time: an earlier test's stray request cannot reach this one.
  json::value reply = Control("POST", "/reset", json::object{{"token", options.token}});
  api_port_ = static_cast<int>(reply.as_object().at("api_port").as_int64());
}

FakeKubeApi::~FakeKubeApi() = default;

int FakeKubeApi::port() const { return api_port_; }
const std::string& FakeKubeApi::token_file() const { return server_->token_file; }

json::value FakeKubeApi::Control(const std::string& method, const std::string& path, const json::value& body) {
  boost::asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(
      tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->control_port)));
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(path);
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::connection, "close");
  if (!body.is_null()) {
    req.set(http::field::content_type, "application/json");
    req.body() = json::serialize(body);
  }
  req.prepare_payload();
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  if (res.result_int() != 200) {
    throw std::runtime_error("fake control " + method + " " + path + ": " + std::to_string(res.result_int()) +
                             " " + res.body());
  }
  return json::parse(res.body());
}

void FakeKubeApi::AddFault(json::object rule) { Control("POST", "/faults", json::object{{"rules", json::array{rule}}}); }
void FakeKubeApi::Op(json::object op) { Control("POST", "/op", op); }
json::array FakeKubeApi::Log() { return Control("GET", "/log").as_array(); }
void FakeKubeApi::ClearLog() { Control("DELETE", "/log"); }

std::optional<json::object> FakeKubeApi::Lease(const std::string& name, const std::string& ns) {
  json::value state = Control("GET", "/state");
  for (const auto& l : state.as_object().at("leases").as_array()) {
    const auto& meta = l.as_object().at("metadata").as_object();
    if (meta.at("name") == name.c_str() && meta.at("namespace") == ns.c_str()) return l.as_object();
  }
  return std::nullopt;
}

void FakeKubeApi::PutLease(const std::string& name, const std::string& holder, int duration_seconds,
                           double renewed_ago, int transitions) {
  const auto renewed = std::chrono::system_clock::now() -
                       std::chrono::microseconds(static_cast<int64_t>(renewed_ago * 1e6));
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(renewed.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(micros / 1000000);
  tm utc;
  gmtime_r(&secs, &utc);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(micros % 1000000));
  const std::string t = std::string(buf) + frac;
  Op({{"op", "put"},
      {"name", name},
      {"spec", json::object{{"holderIdentity", holder},
                            {"leaseDurationSeconds", duration_seconds},
                            {"acquireTime", t},
                            {"renewTime", t},
                            {"leaseTransitions", transitions}}}});
}

bool FakeKubeApi::WaitForLog(const std::function<bool(const json::array&)>& pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (pred(Log())) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

std::vector<json::object> Requests(const json::array& log, const std::string& method, const std::string& path_suffix) {
  std::vector<json::object> out;
  for (const auto& e : log) {
    const auto& o = e.as_object();
    const std::string path = Str(o.at("path"));
    if (Str(o.at("method")) == method &&
        (path_suffix.empty() ||
         (path.size() >= path_suffix.size() && path.compare(path.size() - path_suffix.size(), std::string::npos,
                                                           path_suffix) == 0))) {
      out.push_back(o);
    }
  }
  return out;
}

std::string Summary(const json::array& log) {
  std::string out;
  for (const auto& e : log) {
    const auto& o = e.as_object();
    const std::string path = Str(o.at("path"));
    out += "t=" + json::serialize(o.at("t")) + " " + Str(o.at("method")) + " ..." +
           path.substr(path.rfind('/')) + " " + json::serialize(o.at("code"));
    if (const auto* applied = o.if_contains("applied_code")) out += " (applied " + json::serialize(*applied) + ")";
    if (const auto* rv = Path(o.at("body"), {"metadata", "resourceVersion"})) out += " rv=" + Str(*rv);
    out += "\n";
  }
  return out;
}

std::string Str(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : std::string(); }

const json::value* Path(const json::value& v, std::initializer_list<const char*> keys) {
  const json::value* cur = &v;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    cur = cur->as_object().if_contains(k);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

bool IsMicroTime(const json::value& v) {
  const std::string s = Str(v);
  if (s.size() != 27 || s[10] != 'T' || s[19] != '.' || s[26] != 'Z') return false;
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u, 20u, 21u, 22u, 23u, 24u, 25u}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

Running StartHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> argv = {EnvOrDie("HA_SYNC_BIN")};
  argv.insert(argv.end(), args.begin(), args.end());
  Running r;
  r.pid = Spawn(argv, env, nullptr, &r.out_fd, &r.err_fd);
  return r;
}

RunOutput WaitHaSync(Running running) {
  RunOutput out;
  pollfd fds[2] = {{running.out_fd, POLLIN, 0}, {running.err_fd, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? out.out : out.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  out.exit_code = WaitExit(running.pid);
  return out;
}

RunOutput RunHaSync(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return WaitHaSync(StartHaSync(args, env));
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> FilesUnder(const std::string& root) {
  std::vector<std::string> out;
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    DIR* d = ::opendir((root + (rel.empty() ? "" : "/" + rel)).c_str());
    if (d == nullptr) return;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (::lstat((root + "/" + child).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        walk(child);
      } else {
        out.push_back(child);
      }
    }
    ::closedir(d);
  };
  walk("");
  return out;
}

}  // namespace ha_sync::test
