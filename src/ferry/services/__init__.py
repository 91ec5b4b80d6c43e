"""Use-cases. Entry points (api, web, cli, worker) call these and nothing below them."""
