// gaze census / census-report through the CLI: one process equals
// `mpirun -n 2` and a killed-and-resumed run; bad input is named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "bad_input_support.hpp"
#include "census_support.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

// Same structure; numbers within `relative` of each other.
void expect_json_near(const nlohmann::json& a, const nlohmann::json& b, double relative, const std::string& where = "$") {
    if (a.is_number() && b.is_number()) {
        const double x = a.get<double>(), y = b.get<double>();
        EXPECT_LE(std::fabs(x - y), relative * std::max(std::fabs(x), std::fabs(y))) << where << ": " << x << " vs " << y;
        return;
    }
    ASSERT_EQ(a.type(), b.type()) << where;
    if (a.is_object()) {
        ASSERT_EQ(a.size(), b.size()) << where;
        for (auto it = a.begin(); it != a.end(); ++it) {
            ASSERT_TRUE(b.contains(it.key())) << where << "." << it.key();
            expect_json_near(it.value(), b.at(it.key()), relative, where + "." + it.key());
        }
    } else if (a.is_array()) {
        ASSERT_EQ(a.size(), b.size()) << where;
        for (size_t i = 0; i < a.size(); ++i) expect_json_near(a[i], b[i], relative, where + "[" + std::to_string(i) + "]");
    } else {
        EXPECT_EQ(a, b) << where;
    }
}

struct CensusCli {
    TempDir tmp;
    std::string model, corpus;
    explicit CensusCli(const std::string& model_dir, const std::string& corpus_text, const std::string& name = "corpus.txt")
        : model(model_dir), corpus(tmp.file(name)) {
        write_bytes(corpus, corpus_text);
    }
    std::string command(const std::string& out, const std::string& extra = "", const std::string& launcher = "") const {
        return "OMP_NUM_THREADS=1 " + launcher + shell_quote(cli_path()) + " census --quiet --window-bytes 512 --batch-size 8 --model " +
               shell_quote(model) + " --corpus " + shell_quote(corpus) + " --out " + shell_quote(tmp.file(out)) + " " + extra;
    }
    nlohmann::json result(const std::string& out) const { return nlohmann::json::parse(read_bytes(tmp.file(out))); }
};

TEST(CensusCli, TwoMpiRanksWriteTheCensusOfOneProcess) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    std::string out;
    if (run_command("command -v mpirun", &out) != 0) {
        if (running_in_ci()) FAIL() << "mpirun not found (scripts/setup.sh installs openmpi-bin)";
        GTEST_SKIP() << "mpirun not found";
    }
    CensusCli c(dir, census_corpus(150, 5));
    ASSERT_EQ(run_command(c.command("one.json"), &out), 0) << out;
    // Under the sanitizer build the ranks unwind malloc stacks slowly (DWARF,
    // not frame pointers): OpenMPI's own start-up allocations are then traced
    // into libmpi / libopen-pal, where scripts/lsan.supp names them; the fast
    // unwinder stops in its unloaded plugins, which no suppression can match.
    // Harmless elsewhere (the variable is only read by ASan).
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string asan_options = std::string(asan ? asan : "") + (asan && *asan ? ":" : "") + "fast_unwind_on_malloc=0";
    const std::string mpirun = "ASAN_OPTIONS=" + shell_quote(asan_options) +
                               " OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 ";
    const int rc = run_command(c.command("two.json", "", mpirun), &out);
    if (out.find("built without MPI") != std::string::npos) {
        if (running_in_ci()) FAIL() << out;
        GTEST_SKIP() << out;
    }
    ASSERT_EQ(rc, 0) << out;
    const auto one = c.result("one.json"), two = c.result("two.json");
    EXPECT_EQ(one.at("corpus").at("texts"), 150);
    EXPECT_EQ(one.at("corpus"), two.at("corpus"));
    expect_json_near(one, two, 1e-9);
    EXPECT_FALSE(std::filesystem::exists(c.tmp.file("two.json.checkpoint.rank0of2")));
}

TEST(CensusCli, AKilledAndResumedRunWritesTheUninterruptedCensus) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    CensusCli c(dir, census_corpus(120, 0));
    std::string out;
    ASSERT_EQ(run_command(c.command("whole.json"), &out), 0) << out;
    // SIGKILL after the second checkpoint: no cleanup, no census.json.
    EXPECT_NE(run_command(c.command("resumed.json", "--checkpoint-every 20 --kill-after-checkpoint 2"), &out), 0) << out;
    ASSERT_TRUE(std::filesystem::exists(c.tmp.file("resumed.json.checkpoint"))) << out;
    ASSERT_FALSE(std::filesystem::exists(c.tmp.file("resumed.json")));
    ASSERT_EQ(run_command(c.command("resumed.json", "--checkpoint-every 20 --resume"), &out), 0) << out;
    EXPECT_EQ(read_bytes(c.tmp.file("resumed.json")), read_bytes(c.tmp.file("whole.json")));
    EXPECT_FALSE(std::filesystem::exists(c.tmp.file("resumed.json.checkpoint")));
}

TEST(CensusCli, BadInputIsNamedWithItsLine) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    CensusCli c(dir, "{\"text\": \"the cat\"}\n{\"text\": \"a dog\"\n{\"text\": \"the end\"}\n", "corpus.jsonl");
    std::string out;
    EXPECT_EQ(run_command(c.command("fail.json"), &out), 1);
    EXPECT_THAT(out, ::testing::HasSubstr("corpus.jsonl:2: invalid JSON"));
    EXPECT_FALSE(std::filesystem::exists(c.tmp.file("fail.json")));
    ASSERT_EQ(run_command(c.command("skip.json", "--on-error skip"), &out), 0) << out;
    const auto skipped = c.result("skip.json").at("corpus");
    EXPECT_EQ(skipped.at("texts"), 2);
    EXPECT_EQ(skipped.at("skipped_lines"), 1);
    EXPECT_EQ(skipped.at("errors").at(0).at("line"), 2);

    // A corpus that changes between a checkpoint and --resume is refused.
    CensusCli r(dir, census_corpus(60, 0));
    EXPECT_NE(run_command(r.command("r.json", "--checkpoint-every 10 --kill-after-checkpoint 1"), &out), 0);
    write_bytes(r.corpus, census_corpus(60, 0, 2));
    EXPECT_EQ(run_command(r.command("r.json", "--checkpoint-every 10 --resume"), &out), 1);
    EXPECT_THAT(out, ::testing::HasSubstr("changed since checkpoint"));

    CensusCli e(dir, "");
    ASSERT_EQ(run_command(e.command("empty.json"), &out), 0) << out;
    EXPECT_EQ(e.result("empty.json").at("corpus").at("texts"), 0);
    EXPECT_NE(run_command(e.command("x.json", "--on-error maybe"), &out), 0);
    EXPECT_THAT(out, ::testing::HasSubstr("--on-error"));
}

TEST(CensusCli, TheReportIsOneSelfContainedPageWithEscapedTexts) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    CensusCli c(dir, census_corpus(40, 0) + "the cat </script><b>bold</b> & \"quoted\" sat on the mat, the cat sat.\n");
    std::string out;
    ASSERT_EQ(run_command(c.command("census.json"), &out), 0) << out;
    std::filesystem::create_directories(c.tmp.file("figures"));
    ASSERT_EQ(run_command(shell_quote(cli_path()) + " census-report " + shell_quote(c.tmp.file("census.json")) + " --out " +
                              shell_quote(c.tmp.file("report.html")) + " --model " + shell_quote(dir) + " --svg " +
                              shell_quote(c.tmp.file("figures")),
                          &out),
              0)
        << out;
    const std::string html = read_bytes(c.tmp.file("report.html"));
    EXPECT_THAT(html, ::testing::HasSubstr("<svg"));
    EXPECT_THAT(html, ::testing::HasSubstr("previous_token"));
    EXPECT_THAT(html, ::testing::Not(::testing::HasSubstr("<b>bold")));
    EXPECT_THAT(html, ::testing::Not(::testing::HasSubstr("src=\"http")));
    EXPECT_THAT(html, ::testing::Not(::testing::HasSubstr("<link")));
    EXPECT_EQ(html.find("</script>"), html.find("</script><script>"));  // only the data block's own end tag before the script
    // With --model, the top heads' attention on their example texts is drawn into the page data.
    EXPECT_THAT(html, ::testing::HasSubstr("\"figures\":{\"encoder self/"));
    EXPECT_TRUE(std::filesystem::exists(c.tmp.file("figures/encoder_self_induction.svg")));
    // Not a census: one line naming the file.
    write_bytes(c.tmp.file("bad.json"), "{\"format\": \"other\"}");
    EXPECT_EQ(run_command(shell_quote(cli_path()) + " census-report " + shell_quote(c.tmp.file("bad.json")) + " --out " +
                              shell_quote(c.tmp.file("bad.html")),
                          &out),
              1);
    EXPECT_THAT(out, ::testing::HasSubstr("bad.json: not a census.json"));
}

}  // namespace
}  // namespace gaze::test
