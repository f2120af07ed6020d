# detbuild hook for debian/rules, printed by `detbuild hook dpkg`. Save it as
# debian/detbuild.mk and include it at the top of debian/rules:
#
#   include debian/detbuild.mk
#
# Every recipe of debian/rules (dh, the dh_* tools, the upstream build they run) then runs
# under detbuild's shim; make itself does not. The epoch is dpkg's own: SOURCE_DATE_EPOCH as
# dpkg-buildpackage exports it, else the newest debian/changelog entry (pkg-info.mk). Under
# `detbuild -- dpkg-buildpackage` (or any build already shimmed) it does nothing. A
# detbuild.toml next to debian/ is read as usual.
# If detbuild is missing or fails, the build stops with its message: it never goes on
# unshimmed. DETBUILD_PROGRAM names the launcher (default: `detbuild` on PATH);
# DEB_BUILD_OPTIONS=nodetbuild builds without it, and says so.
DETBUILD_PROGRAM ?= detbuild
ifneq (,$(filter nodetbuild,$(DEB_BUILD_OPTIONS)))
$(warning detbuild hook: off (DEB_BUILD_OPTIONS=nodetbuild); this build is not shimmed)
else ifeq (,$(DETBUILD))
include /usr/share/dpkg/pkg-info.mk
# `detbuild env --format make`, one line per assignment: $(shell) joins lines, so each line
# ends in a marker that becomes a newline again before $(eval).
detbuild_env := $(shell out=$$($(DETBUILD_PROGRAM) env --format make --epoch $(SOURCE_DATE_EPOCH)) && printf '%s\n' "$$out" | sed 's/$$/@detbuild-eol@/')
ifneq ($(.SHELLSTATUS),0)
$(error detbuild hook: `$(DETBUILD_PROGRAM) env` failed (see above): install detbuild, or set DEB_BUILD_OPTIONS=nodetbuild to build without it)
endif
define detbuild_newline


endef
$(eval $(subst @detbuild-eol@,$(detbuild_newline),$(detbuild_env)))
endif
