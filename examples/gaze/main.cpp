// gaze: run transformer models and look at what they attend to.
#include <iostream>

#include "cli.hpp"

int main(int argc, char** argv) {
    CLI::App app{"gaze: run transformer models and see what they attend to"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "gaze 0.1.0");
    // Engine options are the top-level app's; fallthrough lets them follow the
    // subcommand too (`gaze run --dtype bf16 ...`).
    gaze::cli::add_engine_options(app);
    app.fallthrough();
    std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
    for (const auto& command : gaze::cli::commands()) {
        CLI::App* sub = app.add_subcommand(command.name, command.description);
        runners.emplace_back(sub, command.setup(*sub));
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One line, naming the argument (CLI11's own exit adds a second line).
        std::cerr << "gaze: error: " << e.what() << " (see gaze --help)\n";
        return e.get_exit_code() ? e.get_exit_code() : 1;
    }
    try {
        gaze::cli::apply_engine_options();
        for (auto& [sub, run] : runners) {
            if (sub->parsed()) return run();
        }
    } catch (const gaze::Error& e) {
        std::cerr << "gaze: error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "gaze: internal error: " << e.what() << "\n";
        return 2;
    }
    return 1;
}
