# The attention views' build pieces, included from the top-level CMakeLists.txt
# once the gaze library exists:
#   - the HTML viewer's scripts and styles (src/views/assets) embedded as a
#     generated header of raw strings;
#   - cairo, linked privately, for PNG figures.
file(GLOB GAZE_VIEW_ASSETS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/assets/*.js ${CMAKE_CURRENT_LIST_DIR}/assets/*.css)
set(GAZE_VIEW_ASSETS_INC ${CMAKE_CURRENT_BINARY_DIR}/generated/gaze_view_assets.inc)
add_custom_command(
  OUTPUT ${GAZE_VIEW_ASSETS_INC}
  COMMAND ${CMAKE_COMMAND} -DASSET_DIR=${CMAKE_CURRENT_LIST_DIR}/assets -DOUTPUT=${GAZE_VIEW_ASSETS_INC}
          -P ${CMAKE_CURRENT_LIST_DIR}/embed_assets.cmake
  DEPENDS ${GAZE_VIEW_ASSETS} ${CMAKE_CURRENT_LIST_DIR}/embed_assets.cmake
  COMMENT "Embedding the HTML viewer's scripts and styles"
  VERBATIM)
target_sources(gaze PRIVATE ${GAZE_VIEW_ASSETS_INC})
target_include_directories(gaze PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/generated)
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)
target_link_libraries(gaze PRIVATE PkgConfig::CAIRO)
