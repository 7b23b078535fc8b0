// Element types of safetensors files, by their on-disk names.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace cotrain {

enum class DType { Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E5M2, F8_E4M3 };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);            // "BF16", "F32", ...
std::optional<DType> parse_dtype(std::string_view name);  // nullopt for unknown or unsupported names

}  // namespace cotrain
