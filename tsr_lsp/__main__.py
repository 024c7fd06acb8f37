from tsr_lsp.cli import main

raise SystemExit(main())
