// The upload container: multipart/form-data with a JSON key map and WAV parts, as a browser's
// FormData or curl -F sends it, into an SF2 bank; and every mistake an uploader can make
// answered with what to fix.
#include "gno/soundfonts/instrument_upload.hpp"
#include "wav_bytes.hpp"

#include <gtest/gtest.h>

namespace gno::soundfonts {
namespace {

using test::sine;
using test::wav_bytes;

constexpr const char* k_type = "multipart/form-data; boundary=----gnoBoundary42";

struct form {
    std::string body;
    void field(const std::string& name, const std::string& value) {
        body += "------gnoBoundary42\r\nContent-Disposition: form-data; name=\"" + name +
                "\"\r\n\r\n" + value + "\r\n";
    }
    void file(const std::string& name, const std::vector<std::byte>& bytes) {
        body += "------gnoBoundary42\r\nContent-Disposition: form-data; name=\"" + name +
                "\"; filename=\"" + name + "\"\r\nContent-Type: audio/wav\r\n\r\n";
        body.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        body += "\r\n";
    }
    std::string done() const { return body + "------gnoBoundary42--\r\n"; }
};

TEST(InstrumentUpload, AMapAndItsFilesBecomeOnePreset) {
    form f;
    f.field("map", R"({"name":"Bells","release_s":0.5,"samples":[
        {"file":"low.wav","root":48,"lo":0,"hi":59,"loop":true,"loop_start":100,"loop_end":4000},
        {"file":"high.wav","root":72,"lo":60,"hi":127}]})");
    f.file("low.wav", wav_bytes({}, sine(130.81, 0.1)));
    f.file("high.wav", wav_bytes({2, 44100, 24}, sine(523.25, 0.2, 44100)));
    const auto r = parse_instrument_upload(k_type, f.done(), "performer 7");
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.bank.presets.size(), 1u);
    const auto& p = r.bank.presets[0];
    EXPECT_EQ(p.name, "Bells");
    EXPECT_EQ(p.bank, 0);
    EXPECT_EQ(p.program, 0);
    ASSERT_EQ(p.zones.size(), 2u);
    EXPECT_EQ(p.zones[0].key_hi, 59);
    EXPECT_TRUE(p.zones[0].loop);
    EXPECT_EQ(p.zones[1].key_lo, 60);
    EXPECT_DOUBLE_EQ(p.zones[1].envelope.release_s, 0.5);
    ASSERT_EQ(r.bank.samples.size(), 2u);
    EXPECT_EQ(r.bank.samples[0].root_key, 48);
    ASSERT_TRUE(r.bank.samples[0].loop);
    EXPECT_EQ(r.bank.samples[0].loop->start, 100u);
    EXPECT_EQ(r.bank.samples[1].sample_rate, 44100);
    EXPECT_EQ(r.bank.samples[1].pcm.size(), 4410u); // 8820 values, stereo: 4410 mono frames
    std::string error;
    EXPECT_FALSE(write_sf2(r.bank, error).empty()) << error;
}

TEST(InstrumentUpload, DefaultsFillWhatTheMapLeavesOut) {
    form f;
    f.field("map", R"({"samples":[{"file":"a.wav","root":64}]})");
    f.file("a.wav", wav_bytes({}, sine(330.0, 0.1)));
    const auto r = parse_instrument_upload("Multipart/Form-Data; boundary=\"----gnoBoundary42\"",
                                           f.done(), "performer 7");
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.bank.presets[0].name, "performer 7");
    EXPECT_EQ(r.bank.presets[0].zones[0].key_lo, 0);
    EXPECT_EQ(r.bank.presets[0].zones[0].key_hi, 127);
    EXPECT_FALSE(r.bank.samples[0].loop);
}

TEST(InstrumentUpload, EveryMistakeSaysWhatToFix) {
    const auto good_wav = wav_bytes({}, sine(330.0, 0.1));
    auto lying_wav = good_wav;
    test::set_chunk_size(lying_wav, "data", 1u << 30);
    auto error_for = [&](const std::string& map, const std::vector<std::byte>& wav,
                         const std::string& type = k_type) {
        form f;
        if (!map.empty())
            f.field("map", map);
        f.file("a.wav", wav);
        return parse_instrument_upload(type, f.done(), "p").error;
    };
    const std::string ok_map = R"({"samples":[{"file":"a.wav","root":64}]})";
    EXPECT_EQ(error_for(ok_map, good_wav), "");
    EXPECT_NE(error_for(ok_map, lying_wav).find("a.wav: chunk 'data' says"), std::string::npos);
    EXPECT_NE(error_for(ok_map, good_wav, "application/json").find("multipart/form-data"),
              std::string::npos);
    EXPECT_NE(error_for("", good_wav).find("no \"map\""), std::string::npos);
    EXPECT_NE(error_for("{not json", good_wav).find("not a JSON object"), std::string::npos);
    EXPECT_NE(error_for(R"({"samples":[]})", good_wav).find("\"samples\""), std::string::npos);
    EXPECT_NE(error_for(R"({"samples":[{"file":"b.wav","root":64}]})", good_wav)
                  .find("no uploaded file named \"b.wav\""),
              std::string::npos);
    EXPECT_NE(error_for(R"({"samples":[{"file":"a.wav"}]})", good_wav).find("\"root\" is missing"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"samples":[{"file":"a.wav","root":200}]})", good_wav).find("0 to 127"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"samples":[{"file":"a.wav","root":64,"lo":90,"hi":10}]})", good_wav)
                  .find("\"lo\" is above \"hi\""),
              std::string::npos);
    EXPECT_NE(error_for(R"({"samples":[{"file":"a.wav","root":64,"loop":"yes"}]})", good_wav)
                  .find("true or false"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"samples":[{"file":"a.wav","root":64,"loop":true,"loop_end":999999}]})",
                        good_wav)
                  .find("loop_end"),
              std::string::npos);
    EXPECT_NE(error_for(R"({"release_s":-1,"samples":[{"file":"a.wav","root":64}]})", good_wav)
                  .find("release_s"),
              std::string::npos);
    // A body cut short has no closing boundary.
    form f;
    f.field("map", ok_map);
    f.file("a.wav", good_wav);
    EXPECT_NE(parse_instrument_upload(k_type, f.body.substr(0, f.body.size() - 40), "p")
                  .error.find("closing boundary"),
              std::string::npos);
}

// Cut anywhere, the container never crashes the parser.
TEST(InstrumentUpload, SurvivesEveryTruncation) {
    form f;
    f.field("map", R"({"samples":[{"file":"a.wav","root":64}]})");
    f.file("a.wav", wav_bytes({}, sine(330.0, 0.01)));
    const std::string body = f.done();
    for (std::size_t n = 0; n < body.size(); ++n)
        (void)parse_instrument_upload(k_type, body.substr(0, n), "p");
    SUCCEED();
}

} // namespace
} // namespace gno::soundfonts
