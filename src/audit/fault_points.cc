#include "audit/fault_points.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace ha_sync::audit {

namespace {

struct Config {
  std::string name;
  long nth = 1;
};

const Config* GetConfig() {
  static const Config* const config = [] () -> const Config* {
    const char* env = std::getenv("HA_SYNC_FAULT_POINT");
    if (env == nullptr || *env == '\0') return nullptr;
    auto* c = new Config;
    c->name = env;
    if (const size_t colon = c->name.find(':'); colon != std::string::npos) {
      c->nth = std::strtol(c->name.c_str() + colon + 1, nullptr, 10);
      if (c->nth < 1) c->nth = 1;
      c->name.resize(colon);
    }
    return c;
  }();
  return config;
}

std::function<void(const char*)>& Hook() {
  static std::function<void(const char*)> hook;
  return hook;
}

std::atomic<long> g_hits{0};

}  // namespace

void FaultPoint(const char* name) {
  if (Hook()) Hook()(name);
  const Config* c = GetConfig();
  if (c == nullptr || c->name != name) return;
  if (g_hits.fetch_add(1) + 1 == c->nth) ::raise(SIGKILL);
}

void SetFaultHook(std::function<void(const char* name)> hook) { Hook() = std::move(hook); }

}  // namespace ha_sync::audit
