from dfx.cli import main

raise SystemExit(main())
