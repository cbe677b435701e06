from portal.app import main

main()
