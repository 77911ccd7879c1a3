// myriad_compile: OpenVINO 2021.4's MYRIAD compiler, driven with compile_tool's command line, with no
// device attached. It is our own program over Intel's public, exported Inference Engine C++ API
// (InferenceEngine::Core, CNNNetwork, Data, ExecutableNetwork) in the libraries of the PyPI wheel
// openvino==2021.4.2. Intel's binaries are used as they ship: nothing is patched or inspected.
//
// Why a program of our own: the wheel ships the libraries but neither compile_tool nor the headers,
// and its Python API always creates an infer request after loading, which needs a device. Loading
// with VPU_MYRIAD_PLATFORM=VPU_MYRIAD_2480 (what compile_tool sets) compiles without one, and
// ExecutableNetwork::Export, called before any infer request exists, writes the blob.
//
// Usage (compile_tool's flags):
//   myriad_compile -m model.xml -o model.blob [-d MYRIAD] [-c config.txt] [-ip U8] [-op FP16]
//                  [-iop "in:U8,out:FP16"] [-il NCHW] [-ol NC] [-iol "in:NHWC"]
//                  [-VPU_NUMBER_OF_SHAVES n] [-VPU_NUMBER_OF_CMX_SLICES n] [-VPU_TILING_CMX_LIMIT_KB n]
//   myriad_compile --version
// Exit status: 0 written, 1 the compiler refused the model, 2 bad arguments.
//
// Built by envs/openvino-2021.4/build-myriad-compile.sh against the wheel's libraries, with the
// old libstdc++ string ABI they were built with (-D_GLIBCXX_USE_CXX11_ABI=0).

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

// The part of the public Inference Engine 2021.4 API this program calls, declared here because the
// wheel has no headers. Names, signatures and the layouts of the value types follow the public API;
// objects that the library returns by value and that we only hand back to it are opaque storage.
namespace InferenceEngine {

struct Version {
    struct ApiVersion {
        int major;
        int minor;
    } apiVersion;
    const char* buildNumber;
    const char* description;
};

// Precision: element size in bits, name, whether it is a float, and its enum value.
class Precision {
public:
    std::size_t bits;
    const char* name;
    bool is_float;
    std::uint8_t value;
};

enum Layout : std::uint8_t {
    ANY = 0, NCHW = 1, NHWC = 2, NCDHW = 3, NDHWC = 4, SCALAR = 95, C = 96, CHW = 128, HWC = 129,
    HW = 192, NC = 193, CN = 194,
};

class Data {
public:
    void setPrecision(const Precision& precision);
    const Precision& getPrecision() const;
    void setLayout(Layout layout);
    Layout getLayout() const;
    const std::string& getName() const;
};

// InputInfo holds its pre-processing settings and then the input's Data; its accessors are inline
// in the public header, so the two members are spelled out here. main() checks the layout at run
// time (the Data found must carry the input's name) before anything is changed through it.
class InputInfo {
public:
    std::vector<std::shared_ptr<void>> channels;
    std::uint32_t mean_variant;
    std::uint32_t resize_algorithm;
    std::uint32_t color_format;
    std::shared_ptr<Data> data;
};

class CNNNetwork {
public:
    std::map<std::string, std::shared_ptr<InputInfo>> getInputsInfo() const;
    std::map<std::string, std::shared_ptr<Data>> getOutputsInfo() const;

private:
    alignas(16) unsigned char opaque_[512];
};

class ExecutableNetwork {
public:
    void Export(const std::string& modelFileName);

private:
    alignas(16) unsigned char opaque_[512];
};

class Core {
public:
    explicit Core(const std::string& xmlConfigFile);
    CNNNetwork ReadNetwork(const std::string& modelPath, const std::string& binPath) const;
    ExecutableNetwork LoadNetwork(const CNNNetwork& network, const std::string& deviceName,
                                  const std::map<std::string, std::string>& config);

private:
    alignas(16) unsigned char opaque_[256];
};

}  // namespace InferenceEngine

extern "C" const InferenceEngine::Version* GetInferenceEngineVersion() noexcept;

namespace {

using InferenceEngine::Layout;
using InferenceEngine::Precision;

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Precision precision_named(const std::string& name) {
    // {bits, name, is_float, value} as the public API defines each precision.
    static const std::map<std::string, Precision> known = {
        {"FP32", {32, "FP32", true, 10}}, {"FP16", {16, "FP16", true, 11}}, {"I16", {16, "I16", false, 30}},
        {"U8", {8, "U8", false, 40}},     {"I8", {8, "I8", false, 50}},     {"U16", {16, "U16", false, 60}},
        {"I32", {32, "I32", false, 70}},  {"I64", {64, "I64", false, 72}},
    };
    auto it = known.find(name);
    if (it == known.end()) {
        throw UsageError("unknown precision '" + name + "' (FP32, FP16, I16, U8, I8, U16, I32, I64)");
    }
    return it->second;
}

Layout layout_named(const std::string& name) {
    static const std::map<std::string, Layout> known = {
        {"NCHW", InferenceEngine::NCHW}, {"NHWC", InferenceEngine::NHWC}, {"NCDHW", InferenceEngine::NCDHW},
        {"NDHWC", InferenceEngine::NDHWC}, {"C", InferenceEngine::C},     {"CHW", InferenceEngine::CHW},
        {"HWC", InferenceEngine::HWC},   {"HW", InferenceEngine::HW},     {"NC", InferenceEngine::NC},
        {"CN", InferenceEngine::CN},     {"SCALAR", InferenceEngine::SCALAR},
    };
    auto it = known.find(name);
    if (it == known.end()) {
        throw UsageError("unknown layout '" + name + "' (NCHW, NHWC, NCDHW, NDHWC, C, CHW, HWC, HW, NC, CN, SCALAR)");
    }
    return it->second;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\"'");
    auto e = s.find_last_not_of(" \t\"'");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "name:value, name:value" (compile_tool's -iop / -iol); a name may itself contain ':'.
std::map<std::string, std::string> name_value_list(const std::string& text, const char* flag) {
    std::map<std::string, std::string> out;
    std::stringstream items(text);
    std::string item;
    while (std::getline(items, item, ',')) {
        item = trim(item);
        if (item.empty()) continue;
        auto colon = item.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
            throw UsageError(std::string(flag) + ": '" + item + "' is not name:value");
        }
        out[trim(item.substr(0, colon))] = trim(item.substr(colon + 1));
    }
    return out;
}

// compile_tool's -c file: "KEY VALUE" per line, '#' starts a comment line.
std::map<std::string, std::string> read_config(const std::string& path) {
    std::ifstream file(path);
    if (!file) throw UsageError("-c " + path + ": cannot read the config file");
    std::map<std::string, std::string> config;
    std::string line;
    while (std::getline(file, line)) {
        std::stringstream words(line);
        std::string key, value;
        if (!(words >> key) || key[0] == '#') continue;
        if (!(words >> value)) throw UsageError("-c " + path + ": '" + key + "' has no value");
        config[key] = value;
    }
    return config;
}

struct Options {
    std::string model, output, device = "MYRIAD", config_file;
    std::string ip, op, iop, il, ol, iol;
    std::map<std::string, std::string> vpu;  // -VPU_* flags
};

Options parse(int argc, char** argv) {
    Options o;
    static const std::map<std::string, std::string> vpu_keys = {
        {"-VPU_NUMBER_OF_SHAVES", "MYRIAD_NUMBER_OF_SHAVES"},
        {"-VPU_NUMBER_OF_CMX_SLICES", "MYRIAD_NUMBER_OF_CMX_SLICES"},
        {"-VPU_TILING_CMX_LIMIT_KB", "MYRIAD_TILING_CMX_LIMIT_KB"},
    };
    std::map<std::string, std::string*> flags = {
        {"-m", &o.model}, {"-o", &o.output}, {"-d", &o.device}, {"-c", &o.config_file},
        {"-ip", &o.ip},   {"-op", &o.op},    {"-iop", &o.iop},  {"-il", &o.il},
        {"-ol", &o.ol},   {"-iol", &o.iol},
    };
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (i + 1 >= argc) throw UsageError(flag + ": needs a value");
        std::string value = argv[++i];
        if (flags.count(flag)) {
            *flags[flag] = value;
        } else if (vpu_keys.count(flag)) {
            o.vpu[vpu_keys.at(flag)] = value;
        } else {
            throw UsageError("unknown argument " + flag);
        }
    }
    if (o.model.empty()) throw UsageError("-m <model.xml> is required");
    if (o.output.empty()) throw UsageError("-o <model.blob> is required");
    if (o.device != "MYRIAD") throw UsageError("-d " + o.device + ": this compiler targets MYRIAD only");
    return o;
}

bool is_float(const Precision& p) { return p.value == 10 || p.value == 11; }

void set_precisions(InferenceEngine::CNNNetwork& network, const Options& o) {
    auto inputs = network.getInputsInfo();
    auto outputs = network.getOutputsInfo();
    for (auto& [name, info] : inputs) {
        // The declared layout of InputInfo, checked before it is used to change anything.
        if (!info || !info->data || info->data->getName() != name) {
            throw std::runtime_error("input '" + name + "': the Inference Engine library does not have the "
                                     "InputInfo layout of OpenVINO 2021.4; use the openvino==2021.4.2 wheel");
        }
    }
    const Precision fp16 = precision_named("FP16");
    // compile_tool's MYRIAD defaults: float inputs and outputs in FP16, then -ip/-op/-iop.
    for (auto& [name, info] : inputs) {
        if (is_float(info->data->getPrecision())) info->data->setPrecision(fp16);
        if (!o.ip.empty()) info->data->setPrecision(precision_named(o.ip));
        if (!o.il.empty()) info->data->setLayout(layout_named(o.il));
    }
    for (auto& [name, data] : outputs) {
        if (is_float(data->getPrecision())) data->setPrecision(fp16);
        if (!o.op.empty()) data->setPrecision(precision_named(o.op));
        if (!o.ol.empty()) data->setLayout(layout_named(o.ol));
    }
    auto apply = [&](const std::map<std::string, std::string>& by_name, const char* flag, bool is_layout) {
        for (auto& [name, value] : by_name) {
            std::shared_ptr<InferenceEngine::Data> data;
            if (inputs.count(name)) data = inputs[name]->data;
            else if (outputs.count(name)) data = outputs[name];
            else throw UsageError(std::string(flag) + ": the network has no input or output named '" + name + "'");
            if (is_layout) data->setLayout(layout_named(value));
            else data->setPrecision(precision_named(value));
        }
    };
    apply(name_value_list(o.iop, "-iop"), "-iop", false);
    apply(name_value_list(o.iol, "-iol"), "-iol", true);
    for (auto& [name, info] : inputs) {
        std::cout << "input  " << name << " " << info->data->getPrecision().name << std::endl;
    }
    for (auto& [name, data] : outputs) {
        std::cout << "output " << name << " " << data->getPrecision().name << std::endl;
    }
}

// The MYRIAD plugin needs libusb-1.0 even with no device. When the system has none, the environment's
// own copy (lib/ beside bin/) is loaded first, so the plugin's dependency resolves to it.
void preload_libusb(const char* argv0) {
    if (dlopen("libusb-1.0.so.0", RTLD_NOW | RTLD_GLOBAL)) return;
    std::string self = argv0;
    auto slash = self.rfind('/');
    std::string bin = slash == std::string::npos ? "." : self.substr(0, slash);
    dlopen((bin + "/../lib/libusb-1.0.so.0").c_str(), RTLD_NOW | RTLD_GLOBAL);
}

}  // namespace

int main(int argc, char** argv) {
    const auto* version = GetInferenceEngineVersion();
    if (argc == 2 && std::string(argv[1]) == "--version") {
        std::cout << "myriad_compile (OpenVINO " << version->buildNumber << ", MYRIAD, no device)" << std::endl;
        return 0;
    }
    try {
        Options o = parse(argc, argv);
        std::map<std::string, std::string> config;
        if (!o.config_file.empty()) config = read_config(o.config_file);
        for (auto& [key, value] : o.vpu) config[key] = value;
        // compile_tool's no-device mode: compile for the MyriadX (2480) platform without opening it.
        config["VPU_MYRIAD_PLATFORM"] = "VPU_MYRIAD_2480";

        preload_libusb(argv[0]);
        InferenceEngine::Core core("");
        auto network = core.ReadNetwork(o.model, "");
        set_precisions(network, o);
        auto compiled = core.LoadNetwork(network, "MYRIAD", config);
        compiled.Export(o.output);
        std::cout << "wrote " << o.output << std::endl;
        std::cout.flush();
        // The objects above have no exported destructors; leave without running the plugin's teardown.
        std::_Exit(0);
    } catch (const UsageError& e) {
        std::cerr << "myriad_compile: " << e.what() << std::endl;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << e.what() << std::endl;
        return 1;
    }
}
