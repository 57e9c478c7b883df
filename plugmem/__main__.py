from plugmem.cli import main

raise SystemExit(main())
