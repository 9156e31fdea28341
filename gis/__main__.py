from gis.cli import main

raise SystemExit(main())
