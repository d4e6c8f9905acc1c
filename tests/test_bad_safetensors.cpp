// Hostile and broken safetensors files: every one must end in a gaze::Error
// whose message names the file (and the tensor where there is one), never in a
// crash, another exception type, or a silently wrong result. Files are built
// in a temporary folder, either from scratch (a hand-written header) or by
// byte surgery on a valid file from write_safetensors. Also: dtype conversion
// on load (f16, bf16, f64, unaligned f32) and the writer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bad_input_support.hpp"
#include "gaze/gaze.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- safetensors: the framing ---------------------------------------------------

TEST(BadSafetensors, EmptyFile) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, ""), HasSubstr("0 bytes, too short"));
}

TEST(BadSafetensors, SevenByteFile) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, std::string("\x10\0\0\0\0\0\0", 7)), HasSubstr("7 bytes, too short"));
}

TEST(BadSafetensors, MissingFileAndDirectory) {
    TempDir dir;
    const std::string missing = dir.file("nope.safetensors");
    EXPECT_THAT(error_of([&] { SafetensorsFile::open(missing); }), AllOf(HasSubstr(missing), HasSubstr("cannot open")));
    EXPECT_THAT(error_of([&] { SafetensorsFile::open(dir.str()); }),
                AllOf(HasSubstr(dir.str()), HasSubstr("not a regular file")));
}

TEST(BadSafetensors, HeaderLengthIsU64Max) {
    TempDir dir;
    const std::string bytes = u64_le(std::numeric_limits<uint64_t>::max()) + "{}";
    EXPECT_THAT(open_error(dir, bytes),
                AllOf(HasSubstr("header length 18446744073709551615"), HasSubstr("exceeds the file size 10")));
}

TEST(BadSafetensors, HeaderLengthLargerThanTheFile) {
    TempDir dir;
    const std::string header = json{{"w", entry("F32", {2}, 0, 8)}}.dump();
    std::string bytes = image(header, std::string(8, '\0'));
    // Claim one byte more than the header and the data together.
    bytes.replace(0, 8, u64_le(bytes.size() - 8 + 1));
    EXPECT_THAT(open_error(dir, bytes), HasSubstr("exceeds the file size"));
}

TEST(BadSafetensors, HeaderNotJson) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image("{\"w\": {\"dtype\": ", "")), HasSubstr("header is not valid JSON"));
    EXPECT_THAT(open_error(dir, image(std::string("\xff\xfe\x00\x01", 4), "")), HasSubstr("header is not valid JSON"));
}

TEST(BadSafetensors, HeaderJsonButNotAnObject) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image("[1, 2, 3]", "")), HasSubstr("header is not a JSON object"));
    EXPECT_THAT(open_error(dir, image("\"F32\"", "")), HasSubstr("header is not a JSON object"));
    EXPECT_THAT(open_error(dir, image("null", "")), HasSubstr("header is not a JSON object"));
}

TEST(BadSafetensors, TruncatedDataSection) {
    TempDir dir;
    const std::string valid = dir.file("valid.safetensors");
    write_safetensors(valid, {{"a.small", iota_tensor({4})}, {"b.big", iota_tensor({8, 8})}});
    ASSERT_NO_THROW(SafetensorsFile::open(valid));
    std::string bytes = read_bytes(valid);
    bytes.resize(bytes.size() - 100);  // cuts into the middle of b.big (256 bytes)
    EXPECT_THAT(open_error(dir, bytes),
                AllOf(HasSubstr("tensor 'b.big'"), HasSubstr("past the data section"), HasSubstr("truncated"),
                      Not(HasSubstr("a.small"))));
}

// ---- safetensors: header entries ------------------------------------------------

TEST(BadSafetensors, EntryNotAnObject) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image(json{{"weird", 5}}, 0)),
                AllOf(HasSubstr("tensor 'weird'"), HasSubstr("not an object")));
    EXPECT_THAT(open_error(dir, image(json{{"list", {1, 2}}}, 0)),
                AllOf(HasSubstr("tensor 'list'"), HasSubstr("not an object")));
}

TEST(BadSafetensors, UnknownDtype) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("F8_E9", {2}, 0, 2)}}, 2)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("unknown dtype 'F8_E9'")));
}

// Tensor 'w' with `field` removed, then with `field` of the wrong JSON type:
// both must fail with `message`.
void expect_field_required(const std::string& field, const json& wrong_type, const std::string& message) {
    TempDir dir;
    json h = {{"w", entry("F32", {2}, 0, 8)}};
    h["w"].erase(field);
    EXPECT_THAT(open_error(dir, image(h, 8)), AllOf(HasSubstr("tensor 'w'"), HasSubstr(message)));
    h["w"][field] = wrong_type;
    EXPECT_THAT(open_error(dir, image(h, 8)), AllOf(HasSubstr("tensor 'w'"), HasSubstr(message)));
}

TEST(BadSafetensors, MissingOrMistypedDtype) { expect_field_required("dtype", 4, "missing dtype"); }

TEST(BadSafetensors, MissingShape) { expect_field_required("shape", 2, "missing shape"); }

TEST(BadSafetensors, MissingDataOffsets) {
    TempDir dir;
    json h = {{"w", entry("F32", {2}, 0, 8)}};
    h["w"].erase("data_offsets");
    EXPECT_THAT(open_error(dir, image(h, 8)), AllOf(HasSubstr("tensor 'w'"), HasSubstr("data_offsets")));
    // Present but malformed: one number, three numbers, negative, fractional, strings.
    for (const json& bad : {json{0}, json{0, 4, 8}, json{-8, 0}, json{0.0, 8.0}, json{"0", "8"}, json(8)}) {
        h["w"]["data_offsets"] = bad;
        EXPECT_THAT(open_error(dir, image(h, 8)),
                    AllOf(HasSubstr("tensor 'w'"), HasSubstr("data_offsets must be two non-negative integers")))
            << bad.dump();
    }
}

TEST(BadSafetensors, NegativeOrNonIntegerShape) {
    TempDir dir;
    for (const json& shape : {json{-1, 2}, json{2, -2}, json{1.5}, json{2.0}, json{"2"}, json{nullptr}, json::array({json::array({2})})}) {
        json h = {{"w", entry("F32", {2}, 0, 8)}};
        h["w"]["shape"] = shape;
        EXPECT_THAT(open_error(dir, image(h, 8)),
                    AllOf(HasSubstr("tensor 'w'"), HasSubstr("shape entries must be non-negative integers")))
            << shape.dump();
    }
}

TEST(BadSafetensors, RankOverSix) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("F32", {1, 1, 1, 1, 1, 1, 1}, 0, 4)}}, 4)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("rank")));
}

TEST(BadSafetensors, ShapeTimesDtypeDisagreesWithByteRange) {
    TempDir dir;
    // F16 declared over the 16 bytes of a [2, 2] F32 tensor.
    EXPECT_THAT(open_error(dir, image(json{{"half", entry("F16", {2, 2}, 0, 16)}}, 16)),
                AllOf(HasSubstr("tensor 'half'"), HasSubstr("[2, 2] x F16 needs 8 bytes"), HasSubstr("span 16")));
    // And the other way round: F32 declared over too few bytes.
    EXPECT_THAT(open_error(dir, image(json{{"single", entry("F32", {2, 2}, 0, 8)}}, 8)),
                AllOf(HasSubstr("tensor 'single'"), HasSubstr("needs 16 bytes"), HasSubstr("span 8")));
}

TEST(BadSafetensors, ByteSurgeryOnValidFileChangesDtype) {
    // Rewrites "F32" as "F16" inside a header from write_safetensors.
    TempDir dir;
    const std::string valid = dir.file("valid.safetensors");
    write_safetensors(valid, {{"layer.weight", iota_tensor({2, 2})}});
    std::string bytes = read_bytes(valid);
    const size_t at = bytes.find("\"F32\"");
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, 5, "\"F16\"");
    EXPECT_THAT(open_error(dir, bytes), AllOf(HasSubstr("tensor 'layer.weight'"), HasSubstr("needs 8 bytes")));
}

TEST(BadSafetensors, OffsetsPastTheEnd) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("F32", {256}, 0, 1024)}}, 64)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("data_offsets end 1024 is past the data section (64 bytes")));
    // An end near u64 max must not wrap around anything.
    const uint64_t huge = std::numeric_limits<uint64_t>::max();
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("U8", {4}, huge - 4, huge)}}, 64)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("past the data section")));
}

TEST(BadSafetensors, BeginAfterEnd) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("F32", {1}, 8, 4)}}, 16)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("begin 8 > end 4")));
}

TEST(BadSafetensors, OverlappingRanges) {
    TempDir dir;
    const json h = {{"first", entry("F32", {4}, 0, 16)}, {"second", entry("F32", {4}, 8, 24)}};
    EXPECT_THAT(open_error(dir, image(h, 24)),
                AllOf(HasSubstr("tensor 'second'"), HasSubstr("overlaps tensor 'first'")));
    // Two names over the very same bytes.
    const json same = {{"alias", entry("F32", {4}, 0, 16)}, {"orig", entry("F32", {4}, 0, 16)}};
    EXPECT_THAT(open_error(dir, image(same, 16)), HasSubstr("overlaps"));
}

TEST(BadSafetensors, ShapeOverflow) {
    TempDir dir;
    const int64_t big = int64_t{1} << 62;
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("F32", {big, big}, 0, 16)}}, 16)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("shape is too large")));
    // The product wraps to exactly 0 modulo 2^64 (2^32 x 2^32 bytes of U8):
    // must not pass as a zero-byte tensor.
    const int64_t two32 = int64_t{1} << 32;
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("U8", {two32, two32}, 0, 0)}}, 0)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("shape is too large")));
    // A single dimension beyond int64.
    json h = {{"w", entry("U8", {1}, 0, 1)}};
    h["w"]["shape"] = json::array({std::numeric_limits<uint64_t>::max()});
    EXPECT_THAT(open_error(dir, image(h, 1)), AllOf(HasSubstr("tensor 'w'"), HasSubstr("shape is too large")));
    // Fits in u64 bytes but not in the data: reported as a size mismatch, not a crash.
    EXPECT_THAT(open_error(dir, image(json{{"w", entry("U8", {big, 2}, 0, 16)}}, 16)),
                AllOf(HasSubstr("tensor 'w'"), HasSubstr("needs 9223372036854775808 bytes")));
}

TEST(BadSafetensors, MetadataNotAnObject) {
    TempDir dir;
    EXPECT_THAT(open_error(dir, image(json{{"__metadata__", "format=pt"}}, 0)),
                HasSubstr("__metadata__ is not an object"));
    EXPECT_THAT(open_error(dir, image(json{{"__metadata__", json::array()}}, 0)),
                HasSubstr("__metadata__ is not an object"));
}

TEST(BadSafetensors, MetadataWithNonStringValue) {
    TempDir dir;
    const json h = {{"__metadata__", {{"format", "pt"}, {"version", 2}}}, {"w", entry("F32", {1}, 0, 4)}};
    EXPECT_THAT(open_error(dir, image(h, 4)), HasSubstr("__metadata__ value 'version' is not a string"));
}

// ---- safetensors: loading ---------------------------------------------------------

TEST(BadSafetensors, IntegerDtypeLoadedAsFloat) {
    TempDir dir;
    const std::string path = dir.file("ints.safetensors");
    const json h = {{"input_ids", entry("I32", {2}, 0, 8)}, {"flags", entry("BOOL", {2}, 8, 10)},
                    {"ok", entry("F32", {1}, 12, 16)}};
    write_bytes(path, image(h, 16));
    const SafetensorsFile file = SafetensorsFile::open(path);
    EXPECT_THAT(error_of([&] { file.load("input_ids"); }),
                AllOf(HasSubstr(path), HasSubstr("tensor 'input_ids'"), HasSubstr("dtype I32"),
                      HasSubstr("not a floating-point type")));
    EXPECT_THAT(error_of([&] { file.load(*file.find("flags")); }),
                AllOf(HasSubstr(path), HasSubstr("tensor 'flags'"), HasSubstr("BOOL")));
    // Raw bytes stay readable for any dtype.
    EXPECT_EQ(file.bytes(*file.find("input_ids")).size(), 8u);
    EXPECT_NO_THROW(file.load("ok"));
}

TEST(BadSafetensors, LoadOfAnAbsentTensor) {
    TempDir dir;
    const std::string path = dir.file("one.safetensors");
    write_safetensors(path, {{"present", iota_tensor({3})}});
    const SafetensorsFile file = SafetensorsFile::open(path);
    EXPECT_EQ(file.find("absent"), nullptr);
    EXPECT_THAT(error_of([&] { file.load("absent"); }),
                AllOf(HasSubstr(path), HasSubstr("tensor 'absent'"), HasSubstr("not in the file")));
}

void put_u16(std::string& data, uint16_t v) {
    data.push_back(static_cast<char>(v & 0xff));
    data.push_back(static_cast<char>(v >> 8));
}

TEST(Safetensors, HalfBFloatAndDoubleLoadAsFloat) {
    TempDir dir;
    const std::string path = dir.file("mixed.safetensors");
    // F16: 1, -2, 0.5, 65504 (largest finite), 2^-24 (smallest subnormal), 2^-15 (subnormal), -0, +inf, NaN.
    const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x0200, 0x8000, 0x7C00, 0x7E00};
    // BF16: 1, -2, 3.140625, 0.
    const std::vector<uint16_t> bf16 = {0x3F80, 0xC000, 0x4049, 0x0000};
    const std::vector<double> f64 = {1.5, -1e-3};
    std::string data;
    for (auto v : f16) put_u16(data, v);
    for (auto v : bf16) put_u16(data, v);
    const size_t f64_begin = data.size();  // 26: deliberately not 8-byte aligned
    for (double v : f64) {
        char b[8];
        std::memcpy(b, &v, 8);
        data.append(b, 8);
    }
    const json h = {{"__metadata__", {{"format", "pt"}}},
                    {"half", entry("F16", {3, 3}, 0, 18)},
                    {"brain", entry("BF16", {2, 2}, 18, 26)},
                    {"double", entry("F64", {2}, f64_begin, f64_begin + 16)}};
    write_bytes(path, image(h.dump(), data));

    const SafetensorsFile file = SafetensorsFile::open(path);
    const Tensor half = file.load("half");
    ASSERT_EQ(half.shape(), Shape({3, 3}));
    const std::vector<float> hv = half.to_vector();
    EXPECT_EQ(hv[0], 1.0f);
    EXPECT_EQ(hv[1], -2.0f);
    EXPECT_EQ(hv[2], 0.5f);
    EXPECT_EQ(hv[3], 65504.0f);
    EXPECT_EQ(hv[4], std::ldexp(1.0f, -24));
    EXPECT_EQ(hv[5], std::ldexp(1.0f, -15));
    EXPECT_EQ(hv[6], 0.0f);
    EXPECT_TRUE(std::signbit(hv[6]));
    EXPECT_TRUE(std::isinf(hv[7]) && hv[7] > 0);
    EXPECT_TRUE(std::isnan(hv[8]));

    const Tensor brain = file.load("brain");
    ASSERT_EQ(brain.shape(), Shape({2, 2}));
    EXPECT_EQ(brain.to_vector(), (std::vector<float>{1.0f, -2.0f, 3.140625f, 0.0f}));

    const Tensor dbl = file.load("double");
    ASSERT_EQ(dbl.shape(), Shape({2}));
    EXPECT_EQ(dbl.to_vector(), (std::vector<float>{1.5f, static_cast<float>(-1e-3)}));

    EXPECT_EQ(file.metadata().at("format"), "pt");
}

TEST(Safetensors, HalfToFloatMatchesEveryBitPattern) {
    // Reference: value = (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
    for (uint32_t bits = 0; bits < 0x10000; ++bits) {
        const uint32_t s = bits >> 15, e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
        const float got = half_to_float(static_cast<uint16_t>(bits));
        if (e == 0x1f) {
            EXPECT_TRUE(m ? std::isnan(got) : std::isinf(got)) << bits;
            continue;
        }
        const double mag = e == 0 ? std::ldexp(m / 1024.0, -14) : std::ldexp(1.0 + m / 1024.0, static_cast<int>(e) - 15);
        const double want = s ? -mag : mag;
        ASSERT_EQ(static_cast<double>(got), want) << "bits 0x" << std::hex << bits;
    }
}

TEST(Safetensors, UnalignedF32IsCopiedCorrectly) {
    // A header whose length is not a multiple of 4 leaves the F32 data unaligned:
    // load must copy rather than hand out a misaligned float pointer.
    TempDir dir;
    const std::string path = dir.file("unaligned.safetensors");
    const std::vector<float> values = {1.0f, -2.5f, 3.25f};
    std::string data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    std::string header = json{{"w", entry("F32", {3}, 0, 12)}}.dump();
    while ((8 + header.size()) % 4 == 0) header += ' ';
    write_bytes(path, image(header, data));
    const SafetensorsFile file = SafetensorsFile::open(path);
    const Tensor t = file.load("w");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % alignof(float), 0u);
    EXPECT_EQ(t.to_vector(), values);
}

TEST(Safetensors, WriteThenOpenRoundTrips) {
    TempDir dir;
    const std::string path = dir.file("round.safetensors");
    std::mt19937 rng(7);
    const std::vector<std::pair<std::string, Tensor>> tensors = {
        {"zeta.weight", random_tensor({3, 5}, rng)},
        {"alpha.bias", random_tensor({5}, rng)},
        {"middle.cube", random_tensor({2, 3, 4}, rng)},
        {"empty", Tensor(Shape{0, 4})},
        {"scalar", Tensor::from_vector(Shape{}, {42.0f})},
    };
    const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "hello, \"world\" \u00e9"}};
    write_safetensors(path, tensors, metadata);

    const SafetensorsFile file = SafetensorsFile::open(path);
    EXPECT_EQ(file.path(), path);
    EXPECT_EQ(file.metadata(), metadata);
    ASSERT_EQ(file.entries().size(), tensors.size());
    // entries() is sorted by name.
    for (size_t i = 1; i < file.entries().size(); ++i) EXPECT_LT(file.entries()[i - 1].name, file.entries()[i].name);
    for (const auto& [name, t] : tensors) {
        const TensorEntry* e = file.find(name);
        ASSERT_NE(e, nullptr) << name;
        EXPECT_EQ(e->dtype, FileDType::F32);
        EXPECT_EQ(e->shape, t.shape()) << name;
        const Tensor loaded = file.load(name);
        EXPECT_EQ(loaded.shape(), t.shape()) << name;
        EXPECT_EQ(loaded.to_vector(), t.to_vector()) << name;
    }
    // The in-memory parser reads the same image identically.
    const std::string bytes = read_bytes(path);
    const SafetensorsFile parsed =
        SafetensorsFile::parse({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "memory");
    EXPECT_EQ(parsed.metadata(), metadata);
    ASSERT_EQ(parsed.entries().size(), file.entries().size());
    for (const auto& e : parsed.entries()) EXPECT_EQ(parsed.load(e).to_vector(), file.load(e.name).to_vector());
}

TEST(Safetensors, WriteRejectsDuplicateNames) {
    TempDir dir;
    const std::string path = dir.file("dup.safetensors");
    EXPECT_THAT(error_of([&] { write_safetensors(path, {{"x", iota_tensor({2})}, {"x", iota_tensor({2})}}); }),
                AllOf(HasSubstr(path), HasSubstr("duplicate tensor name 'x'")));
}

}  // namespace
}  // namespace gaze::test
