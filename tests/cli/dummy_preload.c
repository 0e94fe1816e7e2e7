/* bg-cli-dummy-preload: an unrelated library already in LD_PRELOAD, which
 * `bindguard run` must keep (after its own library). Exports one harmless symbol. */
int bg_cli_dummy_preload_marker = 1;
