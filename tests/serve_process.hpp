#pragma once
// `gaze serve` as a child process for the serve tests: started on a free
// loopback port, its port read from its "serving:" line, stopped with a
// signal. Loopback only; nothing leaves the machine.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace gaze::test {

class ServeProcess {
public:
    // Starts `gaze serve --port 0 <args>`; check ok() (and output()) after.
    explicit ServeProcess(const std::vector<std::string>& args) {
        int out[2];
        if (::pipe(out) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            ::dup2(out[1], 2);
            ::close(out[0]);
            ::close(out[1]);
            std::vector<std::string> argv_strings = {cli_path(), "serve", "--port", "0"};
            argv_strings.insert(argv_strings.end(), args.begin(), args.end());
            std::vector<char*> argv;
            for (auto& a : argv_strings) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::setenv("OMP_NUM_THREADS", "2", 1);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        fd_ = out[0];
        ::fcntl(fd_, F_SETFL, O_NONBLOCK);
        const std::regex serving(R"(serving: http://127\.0\.0\.1:(\d+)/)");
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        std::smatch m;
        while (std::chrono::steady_clock::now() < give_up && !std::regex_search(output_, m, serving)) {
            if (!read_some(200)) break;
        }
        if (std::regex_search(output_, m, serving)) port_ = std::stoi(m[1]);
    }
    ~ServeProcess() {
        if (pid_ > 0 && exit_status_ < 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }
    ServeProcess(const ServeProcess&) = delete;
    ServeProcess& operator=(const ServeProcess&) = delete;

    bool ok() const { return port_ > 0; }
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& output() const { return output_; }

    // The server's resident memory (VmRSS) in KiB; -1 if unreadable.
    long rss_kib() const {
        std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
        }
        return -1;
    }

    // Sends `sig` and waits (up to `seconds`) for the exit; returns the exit
    // status, or -1 if it did not exit normally in time (then it is killed).
    int stop(int sig, int seconds = 30) {
        ::kill(pid_, sig);
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        int status = 0;
        while (std::chrono::steady_clock::now() < give_up) {
            read_some(50);
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                read_some(0);
                exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                return WIFEXITED(status) ? exit_status_ : -1;
            }
        }
        return -1;
    }

private:
    // Appends what the child wrote within `ms`; false at end of output.
    bool read_some(int ms) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, ms) <= 0) return true;
        char buf[4096];
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n > 0) output_.append(buf, static_cast<size_t>(n));
        return n != 0;
    }

    pid_t pid_ = -1;
    int fd_ = -1;
    int port_ = -1;
    int exit_status_ = -1;
    std::string output_;
};

}  // namespace gaze::test
