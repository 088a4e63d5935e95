// Runs a child program for a test: argv[0] is a path, `env_extra` ("K=V")
// is added to (and overrides) this process's environment, stdin is
// /dev/null, stdout and stderr are captured. The exit status is the
// child's, or 128+N when signal N killed it.
//
// Thread-safety: test code; safe from any thread (no shared state).
#pragma once

#include <string>
#include <vector>

namespace ha_sync::testing {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env_extra = {});

// This process's environment with `env_extra` ("K=V") added or replacing
// the entries of the same name, as posix_spawn's envp wants it.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& env_extra);

}  // namespace ha_sync::testing
