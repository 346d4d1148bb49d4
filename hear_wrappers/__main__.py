from hear_wrappers.cli import main

raise SystemExit(main())
