#!/usr/bin/env bash
# Renames the service everywhere: crate and binary, image names, Kubernetes
# resource names and labels, metric prefixes, environment variables, docs.
# The first thing a user of the template runs; tests/rename.rs renames a copy
# of the repository and proves that the result builds and passes its tests.
#
# The body is one function, called on the last line: bash reads a script as it
# runs it, and this script may rewrite files that mention the name (itself
# included, after a rename to a word it uses); a parsed function is immune.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# Phrases that contain the template's name but are not the service's name:
# the HTTP 413 status (http's StatusCode constant and its reason phrase) and
# Rust's term for the value a panic carries. They are never rewritten, and
# tests/rename.rs accepts exactly these as leftovers.
KEEP=("PAYLOAD_TOO_LARGE" "Payload Too Large" "payload too large" "panic payload")

# Words cargo refuses as package names or that would shadow a standard crate,
# Rust keywords (`use <name>::` must parse), directory names cargo uses in
# target/, and Windows device names (the binary could not be created there).
RESERVED=" std core alloc test proc_macro
  as async await break const continue crate dyn else enum extern false fn for
  gen if impl in let loop match mod move mut pub ref return self static struct
  super trait true type unsafe use where while abstract become box do final
  macro override priv try typeof unsized virtual yield
  deps examples build incremental
  con prn aux nul com1 com2 com3 com4 com5 com6 com7 com8 com9
  lpt1 lpt2 lpt3 lpt4 lpt5 lpt6 lpt7 lpt8 lpt9 "

usage() {
  local current
  current="$(crate_name 2>/dev/null || echo old-name)"
  cat <<EOF
Usage: scripts/rename.sh NEW_NAME [--force] [--dry-run]

Replaces the service's current name ('$current', the package name in
Cargo.toml) with NEW_NAME in every file git tracks or would add (binary files
are skipped), in each spelling the name has, e.g. for NEW_NAME=new-name:
  kebab-case  $current -> new-name  crate, binary, image and Kubernetes names, docs
  snake_case  ${current//-/_}:: -> new_name::  Rust paths, ${current//-/_}_http_* metrics,
              RUST_LOG=${current//-/_}=debug -> RUST_LOG=new_name=debug
  UPPER_CASE  $(upper "${current//-/_}")_X -> NEW_NAME_X  environment variables
  PascalCase  $(pascal "$current")High -> NewNameHigh  alert and type names
then moves files and directories whose path contains the name, re-sorts
Cargo.lock, and prints each changed file with its number of replacements.

Left alone on purpose:
  - CHANGELOG.md's history, which records what was released under the old
    name. Its link definitions (they point at the repository) are renamed,
    and a line under "## [Unreleased]" records the rename.
  - Phrases that are not the service's name: Rust's "panic payload" and
    the HTTP status "Payload Too Large" (StatusCode::PAYLOAD_TOO_LARGE).

NEW_NAME must be lowercase kebab-case (^[a-z][a-z0-9]*(-[a-z0-9]+)*$), at most
63 characters (a DNS label, as Kubernetes names and namespaces must be), and
neither a Rust keyword, a reserved crate name (std, core, alloc, test,
proc-macro) nor the name of a dependency in Cargo.lock.

Options:
  --force    run even when the git tree has uncommitted changes
  --dry-run  print what would change, write nothing
  --         end of options
  -h, --help this help
EOF
}

upper() { tr '[:lower:]' '[:upper:]' <<<"$1"; }
pascal() { # pascal my-service -> MyService
  local word out="" IFS=-
  for word in ${1//_/-}; do out+="$(upper "${word:0:1}")${word:1}"; done
  printf '%s' "$out"
}

# write_program OLD NEW FILE: the sed program that renames OLD to NEW.
#
# Every match becomes a placeholder first (\001 + a letter + \001). A
# placeholder never contains the old name, so the program can loop until
# nothing matches (a match consumes the character after it, which may be the
# one before the next match) and still ends when the new name contains the
# old one. The placeholders become the new spellings at the end.
write_program() {
  local old="$1" new="$2" out="$3"
  local K=$'\001' i
  # A name ends where letters and digits end: "api" is not renamed inside
  # "openapi", but is in "api-ci", "api_http" and "api::".
  local B='[^A-Za-z0-9]'
  local old_kebab="${old//_/-}" old_snake="${old//-/_}"
  local old_upper old_pascal new_snake="${new//-/_}"
  old_upper="$(upper "$old_snake")" old_pascal="$(pascal "$old")"
  {
    for i in "${!KEEP[@]}"; do printf 's/%s/%sX%d%s/g\n' "${KEEP[$i]}" "$K" "$i" "$K"; done
    echo ':again'
    if [[ "$old_kebab" == "$old_snake" ]]; then
      # A one-word name is spelled alike in kebab and snake case, so the
      # context decides. Cargo keeps the binary's own name in CARGO_BIN_EXE_.
      printf 's/CARGO_BIN_EXE_%s(%s|$)/CARGO_BIN_EXE_%sk%s\\1/g\n' "$old_kebab" "$B" "$K" "$K"
      # Rust paths (x::), identifiers and metric names (x_total, y_x), log
      # filter directives (x=debug) are snake_case.
      printf 's/(^|%s)%s(::|_)/\\1%ss%s\\2/g\n' "$B" "$old_snake" "$K" "$K"
      printf 's/_%s(%s|$)/_%ss%s\\1/g\n' "$old_snake" "$B" "$K" "$K"
      printf 's/(^|%s)%s=(trace|debug|info|warn|error|off)/\\1%ss%s=\\2/g\n' "$B" "$old_snake" "$K" "$K"
    else
      printf 's/(^|%s)%s(%s|$)/\\1%ss%s\\2/g\n' "$B" "$old_snake" "$B" "$K" "$K"
    fi
    printf 's/(^|%s)%s(%s|$)/\\1%sk%s\\2/g\n' "$B" "$old_kebab" "$B" "$K" "$K"
    printf 's/(^|%s)%s(%s|$)/\\1%su%s\\2/g\n' "$B" "$old_upper" "$B" "$K" "$K"
    # PascalCase runs on into the next word (NameHighErrorRatio).
    printf 's/(^|%s)%s([^a-z0-9]|$)/\\1%sp%s\\2/g\n' "$B" "$old_pascal" "$K" "$K"
    echo 't again'
    printf 's/%ss%s/%s/g\n' "$K" "$K" "$new_snake"
    printf 's/%sk%s/%s/g\n' "$K" "$K" "$new"
    printf 's/%su%s/%s/g\n' "$K" "$K" "$(upper "$new_snake")"
    printf 's/%sp%s/%s/g\n' "$K" "$K" "$(pascal "$new")"
    for i in "${!KEEP[@]}"; do printf 's/%sX%d%s/%s/g\n' "$K" "$i" "$K" "${KEEP[$i]}"; done
  } >"$out"
}

main() {
  local new="" force=0 dry_run=0 options_done=0
  while (($# > 0)); do
    if ((!options_done)); then
      case "$1" in
        -h | --help) usage; exit 0 ;;
        --force) force=1; shift; continue ;;
        --dry-run) dry_run=1; shift; continue ;;
        --) options_done=1; shift; continue ;;
        -*) die "unknown option '$1'. Options are --force and --dry-run; a service name starts with a lowercase letter (scripts/rename.sh --help)." ;;
      esac
    fi
    [[ -z "$new" ]] || die "give one new name (got '$new' and '$1')"
    new="$1"
    shift
  done
  [[ -n "$new" ]] || { usage >&2; die "give the new name, e.g. scripts/rename.sh my-service"; }

  # ---------------------------------------------------------------- validation
  # Every check runs before anything is written: a refused name changes nothing.
  local new_snake="${new//-/_}"
  ((${#new} <= 63)) ||
    die "cannot rename to '$new': it has ${#new} characters; at most 63 fit a DNS label (Kubernetes names and namespaces use the name)."
  [[ "$new" =~ ^[a-z][a-z0-9]*(-[a-z0-9]+)*$ ]] ||
    die "cannot rename to '$new': use lowercase kebab-case: a lowercase letter first, then lowercase letters and digits, with single hyphens between words (e.g. 'my-service'); no underscore, no uppercase, no hyphen at either end, no '--'."
  [[ "$RESERVED" != *[[:space:]]"$new_snake"[[:space:]]* ]] ||
    die "cannot rename to '$new': it is reserved (a Rust keyword, a standard crate, a directory cargo uses or a Windows device name). Pick another name."

  cd "$REPO_ROOT"
  local old
  old="$(crate_name)"
  [[ -n "$old" ]] || die "no package name in $REPO_ROOT/Cargo.toml ([package] name = \"...\"); rename.sh reads the current name from there."
  [[ "$old" =~ ^[A-Za-z][A-Za-z0-9_-]*$ ]] ||
    die "the package name '$old' in Cargo.toml is not a plain crate name; fix it by hand first."
  [[ "$new_snake" != "${old//-/_}" ]] || die "cannot rename to '$new': the service is already called '$old'."
  if grep -qE "^name = \"($new|$new_snake)\"$" Cargo.lock 2>/dev/null; then
    die "cannot rename to '$new': a dependency in Cargo.lock has that name, and the crate would clash with it. Pick another name."
  fi

  require_tool git "Install git: rename.sh changes the files git tracks."
  git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    die "$REPO_ROOT is not a git checkout. rename.sh changes what git tracks, so that 'git diff' shows and 'git checkout .' undoes it: run 'git init && git add -A && git commit -m initial' first."
  local dirty
  dirty="$(git status --porcelain --untracked-files=normal)"
  if [[ -n "$dirty" ]] && ((!force && !dry_run)); then
    printf '%s\n' "$dirty" | head -n 10 >&2
    die "the working tree has uncommitted changes (above). Commit or stash them so that the rename is one reviewable diff, or pass --force."
  fi

  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: $work is local to main
  trap "rm -rf '$work'" EXIT
  write_program "$old" "$new" "$work/rename.sed"
  # CHANGELOG.md: only its link definitions ("[1.0.0]: https://...").
  {
    echo '/^\[[^]]*\]: /{'
    cat "$work/rename.sed"
    echo '}'
  } >"$work/changelog.sed"

  local files=()
  local file
  while IFS= read -r -d '' file; do files+=("$file"); done < <(git ls-files -z -co --exclude-standard)

  # A name that already occurs in the tree cannot be renamed away cleanly
  # later: a second rename would also change those occurrences.
  local existing
  existing="$(printf '%s\0' "${files[@]}" | xargs -0 grep -IlwE -- "$new|$new_snake" 2>/dev/null | head -n 3 | paste -sd, - || true)"
  [[ -z "$existing" ]] ||
    warn "'$new' already occurs in the repository (e.g. ${existing//,/, }). This rename is fine, but renaming again later would also change those occurrences; a distinctive name avoids that."

  local mode="Changed"
  ((dry_run)) && mode="Would change"
  log "renaming '$old' to '$new' ($new_snake, $(upper "$new_snake"), $(pascal "$new"))$( ((dry_run)) && echo '; dry run: nothing is written')"

  # ---------------------------------------------------------------- contents
  # Occurrences of the name in any spelling, case-insensitively, the way
  # tests/rename.rs looks for leftovers; only the KEEP phrases remain.
  local pattern="${old//_/-}|${old//-/_}"
  count() { { grep -oiE -- "$pattern" || true; } | wc -l | tr -d ' '; }
  local report=() changed=0 replaced=0 n script
  for file in "${files[@]}"; do
    # Regular text files only: not deleted, not a symlink (writing through it
    # would change its target), not binary (grep -I).
    [[ -f "$file" && ! -L "$file" ]] || continue
    grep -qiIE -- "$pattern" "$file" || continue
    script="$work/rename.sed"
    [[ "$file" == CHANGELOG.md ]] && script="$work/changelog.sed"
    sed -E -f "$script" "$file" >"$work/out"
    cmp -s "$file" "$work/out" && continue
    n=$(($(count <"$file") - $(count <"$work/out")))
    # cat, not mv: the file keeps its mode (scripts stay executable).
    ((dry_run)) || cat "$work/out" >"$file"
    report+=("$(printf '%5d  %s' "$n" "$file")")
    changed=$((changed + 1)) replaced=$((replaced + n))
  done

  # The changelog records the rename under [Unreleased] / "### Changed".
  if [[ -f CHANGELOG.md ]] && grep -q '^## \[Unreleased\]' CHANGELOG.md; then
    awk -v note="- Renamed the service from \`$old\` to \`$new\` (\`scripts/rename.sh\`)." '
      function add_section() { print "### Changed"; print ""; print note; print ""; done = 1 }
      /^## \[Unreleased\]/ { print; inside = 1; next }
      inside && !done && /^### Changed/ { print; print ""; print note; done = 1; drop_blank = 1; next }
      inside && !done && /^## / { add_section() }
      drop_blank && /^$/ { drop_blank = 0; next }
      { drop_blank = 0; print }
      END { if (inside && !done) { print ""; add_section() } }
    ' CHANGELOG.md >"$work/out"
    ((dry_run)) || cat "$work/out" >CHANGELOG.md
    report+=("$(printf '%5s  %s' +1 'CHANGELOG.md (the rename, under [Unreleased])')")
  fi

  # ---------------------------------------------------------------- paths
  local moves=() to dir
  shopt -s nocasematch
  for file in "${files[@]}"; do
    [[ "$file" =~ $pattern ]] || continue
    [[ -e "$file" || -L "$file" ]] || continue
    to="$(printf '%s\n' "$file" | sed -E -f "$work/rename.sed")"
    [[ "$to" != "$file" ]] || continue
    moves+=("$file -> $to")
    ((dry_run)) && continue
    [[ ! -e "$to" ]] || die "cannot move $file: $to already exists"
    mkdir -p "$(dirname "$to")"
    if git ls-files --error-unmatch -- "$file" >/dev/null 2>&1; then
      git mv -- "$file" "$to"
    else
      mv -- "$file" "$to"
    fi
    # Remove the directories the move emptied (rmdir refuses non-empty ones).
    dir="$(dirname "$file")"
    while [[ "$dir" != . ]] && rmdir -- "$dir" 2>/dev/null; do dir="$(dirname "$dir")"; done
  done
  shopt -u nocasematch

  # Cargo.lock lists packages sorted by name: cargo re-sorts the renamed ones
  # (--workspace touches only this repository's crates, no dependency), in
  # every workspace that has a lock file (fuzz/ is one of its own).
  local lock="Cargo.lock re-sorted by cargo" manifest
  if ((dry_run)); then
    lock="Cargo.lock would be re-sorted by cargo"
  elif ! command -v cargo >/dev/null 2>&1; then
    lock="cargo not found: run 'cargo update --workspace' once Rust is installed"
  else
    for file in "${files[@]}"; do
      [[ "$file" == Cargo.lock || "$file" == */Cargo.lock ]] || continue
      manifest="$(dirname "$file")/Cargo.toml"
      [[ -f "$manifest" ]] || continue
      cargo update --workspace --offline --quiet --manifest-path "$manifest" 2>/dev/null ||
        cargo update --workspace --quiet --manifest-path "$manifest" ||
        lock="'cargo update --workspace --manifest-path $manifest' failed (output above): run it again before building"
    done
  fi

  # ---------------------------------------------------------------- report
  printf '\n%s %d file(s) (replacements, file):\n' "$mode" "$changed"
  ((${#report[@]} == 0)) || printf '%s\n' "${report[@]}"
  if ((${#moves[@]} > 0)); then
    printf '\nMoved:\n'
    printf '  %s\n' "${moves[@]}"
  fi
  printf '\n%d replacement(s) in %d file(s), %d path(s) moved; %s.\n' "$replaced" "$changed" "${#moves[@]}" "$lock"
  ((dry_run)) && return 0
  cat <<EOF

Next:
  git diff --stat                 # review
  scripts/install-tools.sh        # the pinned tools' cache is now ~/.cache/$new-ci
  scripts/ci.sh                   # the whole pipeline, under the new name
  git commit -am "Rename $old to $new"
Images are named after the GitHub repository (ghcr.io/<owner>/<repo>): rename
the repository on GitHub too if it is still called '$old'.
EOF
}

main "$@"; exit
