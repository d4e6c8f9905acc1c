#pragma once
// One exception type for every failure the user can cause (bad file, bad
// argument, bad text). The message always names the file, tensor or argument.
#include <stdexcept>
#include <string>

namespace gaze {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace gaze
