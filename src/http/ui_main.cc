// ha-sync-ui: the dashboard, JSON API and Prometheus metrics over the audit
// database (read-only). See docs/api.md.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "audit/dsn.h"
#include "http/dashboard_app.h"
#include "http/http_server.h"
#include "http/listen_address.h"
#include "http/read_only_db.h"
#include "http/ui_options.h"

namespace {
constexpr int kExitUsage = 64;
}  // namespace

int main(int argc, char** argv) {
  using namespace ha_sync;
  using namespace ha_sync::http;
  std::vector<std::string> args(argv, argv + argc);
  UiParseResult parsed =
      ParseUiOptions(args, std::getenv("HA_SYNC_DB_DSN"), std::getenv("HA_SYNC_UI_BASIC_AUTH"));
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "ha-sync-ui: %s\nTry 'ha-sync-ui --help'.\n", parsed.error.c_str());
    return kExitUsage;
  }
  const UiOptions& o = parsed.options;
  if (o.show_help) {
    std::printf("%s", parsed.help.c_str());
    return 0;
  }
  if (o.show_version) {
    std::printf("ha-sync-ui %s\n", HA_SYNC_VERSION);
    return 0;
  }
  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "ha-sync-ui: %s\nTry 'ha-sync-ui --help'.\n", message.c_str());
    return kExitUsage;
  };
  auto listen = ParseListenAddress(o.listen);
  if (!listen.ok()) return usage("--listen: " + listen.status().message());
  auto dsn = audit::ParseDsn(o.db_dsn, o.log_dir);
  if (!dsn.ok()) return usage(dsn.status().message());

  DashboardOptions dashboard;
  dashboard.stale_after_seconds = o.stale_after_seconds;
  if (o.auth_file) {
    auto auth = BasicAuth::FromFile(*o.auth_file);
    if (!auth.ok()) return usage(auth.status().message());
    dashboard.auth = std::move(*auth);
  } else if (o.auth_env) {
    auto auth = BasicAuth::FromText(*o.auth_env, "HA_SYNC_UI_BASIC_AUTH");
    if (!auth.ok()) return usage(auth.status().message());
    dashboard.auth = std::move(*auth);
  }

  // Signals are taken by sigwait below, in this thread only.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const bool with_auth = dashboard.auth.enabled();
  ReadOnlyDb db(*dsn, {});
  DashboardApp app(&db, std::move(dashboard));
  ServerOptions server_options;
  server_options.host = listen->host;
  server_options.port = listen->port;
  server_options.handler_threads = static_cast<int>(o.threads);
  auto server = HttpServer::Start(server_options, [&app](const Request& req) { return app.Handle(req); });
  if (!server.ok()) {
    std::fprintf(stderr, "ha-sync-ui: %s\n", server.status().message().c_str());
    return 1;
  }
  const bool v6 = listen->host.find(':') != std::string::npos;
  std::printf("ha-sync-ui: serving on http://%s%s%s:%u/ (database %s, read-only%s)\n",
              v6 ? "[" : "", listen->host.c_str(), v6 ? "]" : "", (*server)->port(),
              db.Describe().c_str(), with_auth ? ", basic auth" : "");
  std::fflush(stdout);
  if (!with_auth) {
    // File names are private data; say so once, where operators look.
    std::fprintf(stderr,
                 "ha-sync-ui: warning: no authentication: anyone who can reach %s%s%s:%u sees every "
                 "synced path; set HA_SYNC_UI_BASIC_AUTH or --auth-file\n",
                 v6 ? "[" : "", listen->host.c_str(), v6 ? "]" : "", (*server)->port());
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::printf("ha-sync-ui: stopping (signal %d)\n", sig);
  (*server)->Stop();
  return 0;
}
