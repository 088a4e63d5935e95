#include "audit/fault_points.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace ha_sync::audit {

namespace {

struct Config {
  std::string name;
  long nth = 1;
};

// Set before any thread hits a point (see the header), read afterwards.
std::unique_ptr<Config> g_config;

std::function<void(const char*)>& Hook() {
  static std::function<void(const char*)> hook;
  return hook;
}

std::atomic<long> g_hits{0};

}  // namespace

void FaultPoint(const char* name) {
  if (Hook()) Hook()(name);
  const Config* c = g_config.get();
  if (c == nullptr || c->name != name) return;
  if (g_hits.fetch_add(1) + 1 == c->nth) ::raise(SIGKILL);
}

void ArmFaultPoint(const char* spec) {
  g_config.reset();
  g_hits.store(0);
  if (spec == nullptr || *spec == '\0') return;
  auto c = std::make_unique<Config>();
  c->name = spec;
  if (const size_t colon = c->name.find(':'); colon != std::string::npos) {
    c->nth = std::strtol(c->name.c_str() + colon + 1, nullptr, 10);
    if (c->nth < 1) c->nth = 1;
    c->name.resize(colon);
  }
  g_config = std::move(c);
}

void SetFaultHook(std::function<void(const char* name)> hook) { Hook() = std::move(hook); }

}  // namespace ha_sync::audit
