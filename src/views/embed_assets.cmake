# Turns the viewer's scripts and styles (src/views/assets/*.js, *.css) into
# one C++ header of raw-string constants, so the page the library writes is a
# single self-contained file while the sources stay readable and lintable.
#   cmake -DASSET_DIR=<dir> -DOUTPUT=<file.inc> -P embed_assets.cmake
# Each file becomes `gaze::views::assets::<name_ext>` (e.g. head_view_js).
file(GLOB assets RELATIVE "${ASSET_DIR}" "${ASSET_DIR}/*.js" "${ASSET_DIR}/*.css")
list(SORT assets)
set(out "// Generated from src/views/assets by src/views/embed_assets.cmake: do not edit.\n")
string(APPEND out "#pragma once\n#include <string_view>\n\nnamespace gaze::views::assets {\n")
foreach(asset IN LISTS assets)
  file(READ "${ASSET_DIR}/${asset}" content)
  string(TOLOWER "${content}" lowered)
  foreach(forbidden ")gaze_asset\"" "</script" "<script" "<!--")
    string(FIND "${lowered}" "${forbidden}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${asset}: contains '${forbidden}', which would break the embedding or the page")
    endif()
  endforeach()
  string(MAKE_C_IDENTIFIER "${asset}" name)
  string(APPEND out "inline constexpr std::string_view ${name} = R\"gaze_asset(${content})gaze_asset\";\n")
endforeach()
string(APPEND out "}  // namespace gaze::views::assets\n")
file(WRITE "${OUTPUT}.tmp" "${out}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
