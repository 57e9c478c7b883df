from plugmem_mcp.server import main

raise SystemExit(main())
