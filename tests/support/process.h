// Runs a child program for a test: argv[0] is a path, `env_extra` ("K=V")
// is added to (and overrides) this process's environment, stdin is
// /dev/null, stdout and stderr are captured. The exit status is the
// child's, or 128+N when signal N killed it.
//
// Thread-safety: test code; safe from any thread (no shared state).
#pragma once

#include <sys/types.h>

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

// How a child's standard stream is set up: inherited from this process,
// /dev/null, or a pipe whose parent end comes back in Child.
enum class Stream { kInherit, kNull, kPipe };
struct ChildIo {
  Stream in = Stream::kInherit;
  Stream out = Stream::kInherit;
  Stream err = Stream::kInherit;
  // A descriptor of the caller's for stdout / stderr (>= 0 wins over the Stream).
  int out_fd = -1;
  int err_fd = -1;
};
struct Child {
  pid_t pid = -1;
  int in = -1;   // the parent's ends of the pipes asked for, else -1
  int out = -1;
  int err = -1;
};

// Starts `argv` (argv[0] a path, or a name looked up in PATH) with exactly
// `env` as its environment. Throws std::runtime_error when it cannot start.
Child StartChild(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                 const ChildIo& io);
// Waits for `pid`: its exit status, or 128+N when signal N killed it.
int WaitChild(pid_t pid);

// This process's environment with `env_extra` ("K=V") added or replacing
// the entries of the same name, as posix_spawn's envp wants it.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& env_extra);

}  // namespace ha_sync::testing
