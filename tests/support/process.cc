#include "support/process.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "support/temp_dir.h"

extern char** environ;

namespace ha_sync::testing {

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& env_extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const std::string& extra : env_extra) {
      const size_t eq = extra.find('=');
      if (entry.compare(0, eq + 1, extra, 0, eq + 1) == 0) overridden = true;
    }
    if (!overridden) env.push_back(entry);
  }
  for (const std::string& extra : env_extra) {
    if (extra.find('=') != std::string::npos) env.push_back(extra);
  }
  return env;
}

Child StartChild(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                 const ChildIo& io) {
  int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  const Stream streams[3] = {io.in, io.out, io.err};
  const int given[3] = {-1, io.out_fd, io.err_fd};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int n = 0; n < 3; ++n) {
    if (given[n] >= 0) {
      posix_spawn_file_actions_adddup2(&fa, given[n], n);
    } else if (streams[n] == Stream::kNull) {
      posix_spawn_file_actions_addopen(&fa, n, "/dev/null", n == 0 ? O_RDONLY : O_WRONLY, 0);
    } else if (streams[n] == Stream::kPipe) {
      if (::pipe2(pipes[n], O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
      posix_spawn_file_actions_adddup2(&fa, n == 0 ? pipes[n][0] : pipes[n][1], n);
    }
  }
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  Child child;
  const int rc = ::posix_spawnp(&child.pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  int* parent_end[3] = {&child.in, &child.out, &child.err};
  for (int n = 0; n < 3; ++n) {
    if (pipes[n][0] < 0) continue;
    ::close(n == 0 ? pipes[n][0] : pipes[n][1]);
    *parent_end[n] = n == 0 ? pipes[n][1] : pipes[n][0];
    if (rc != 0) ::close(*parent_end[n]);
  }
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return child;
}

int WaitChild(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env_extra) {
  ProcessResult result;
  char out_path[] = "/tmp/ha-sync-proc-out.XXXXXX";
  char err_path[] = "/tmp/ha-sync-proc-err.XXXXXX";
  const int out_fd = ::mkstemp(out_path);
  const int err_fd = ::mkstemp(err_path);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);
  ChildIo io;
  io.in = Stream::kNull;
  io.out_fd = out_fd;
  io.err_fd = err_fd;
  try {
    result.exit_code = WaitChild(StartChild(argv, ChildEnvironment(env_extra), io).pid);
  } catch (const std::runtime_error& e) {
    result.err = e.what();
  }
  ::close(out_fd);
  ::close(err_fd);
  result.out = ReadFileOrEmpty(out_path);
  result.err += ReadFileOrEmpty(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  return result;
}

}  // namespace ha_sync::testing
